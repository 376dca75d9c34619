/** Every benchmark case, in the order they run. Add new cases here. */
import type { BenchCase } from "../types.ts";
import { diffCompareCase, sha256Case } from "./hash-diff.ts";
import { httpCase } from "./http.ts";
import { containersCase } from "./containers.ts";
import { pullCase } from "./pull.ts";
import { networkCase } from "./network.ts";
import { keeperCase } from "./keeper.ts";

export const CASES: BenchCase[] = [httpCase, containersCase, networkCase, keeperCase, pullCase, sha256Case, diffCompareCase];
