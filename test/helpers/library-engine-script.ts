/**
 * A process that embeds an ephemeral engine, runs a long-lived container in it, prints what it made (JSON on
 * one line: TracedEngine) and waits to be signalled: library.test.ts checks that SIGTERM/SIGINT tear it down.
 *
 *   bun test/helpers/library-engine-script.ts <image reference>
 */
import { dirname } from "node:path";
import { createEngine } from "../../src/lib/index";
import { keeperPids, vethsOf, type EngineTraces } from "./host-traces";

const image = process.argv[2];
if (!image) {
  console.error("usage: library-engine-script.ts <image>");
  process.exit(2);
}
const engine = await createEngine({ ephemeral: true });
const id = await engine.create({ image, cmd: ["sleep", "600"] });
await engine.start(id);
const traces: EngineTraces = {
  dirs: [dirname(engine.dataRoot)],
  containerIds: [id],
  bridges: [engine.bridge],
  subnets: engine.networks.list().flatMap((n) => (n.subnet ? [n.subnet] : [])),
  veths: vethsOf(engine.bridge),
  pids: [engine.inspect(id).pid, ...keeperPids(engine.dataRoot)],
};
console.log(JSON.stringify(traces));
// The engine's signal handlers end the process; until then, stay alive.
setInterval(() => {}, 1 << 30);
