/** Every benchmark case, in the order they run. Add new cases here. */
import type { BenchCase } from "../types.ts";
import { diffCompareCase, sha256Case } from "./hash-diff.ts";
import { httpCase } from "./http.ts";
import { containersCase } from "./containers.ts";
import { pullCase } from "./pull.ts";
import { networkCase } from "./network.ts";
import { keeperCase } from "./keeper.ts";
import { floorsCase } from "./floors.ts";
import { listCase } from "./list.ts";
import { memoryCase } from "./memory.ts";
import { extractCase } from "./extract.ts";

export const CASES: BenchCase[] = [httpCase, memoryCase, listCase, containersCase, floorsCase, networkCase, keeperCase, pullCase, extractCase, sha256Case, diffCompareCase];
