/**
 * RUN steps in real containers of the container service: created from the step's image with the command as its
 * Cmd (no entrypoint, as docker's builder does), attached before it starts so no output is missed (stdout and
 * stderr interleaved as they come), waited for, and diffed into a layer tar with the layer diff.
 */
import type { GraphDriver } from "../../drivers/graph/types";
import type { HijackedConnection } from "../api/http/hijack";
import type { ContainerService } from "../containers/service";
import { layerTar } from "../layers/diff";
import type { BuildContainer, BuildRunner, BuildRunSpec } from "./runner";
import { InvalidParameterError } from "../errors";

const FRAME_HEADER = 8;

/**
 * A connection that is not one: the attachment writes stdcopy frames (8-byte header, then the payload) into it,
 * and the payloads go to `output`.
 */
function outputSink(output: (chunk: Uint8Array) => Promise<void>): HijackedConnection & { finish(): void } {
  let pending = new Uint8Array(0);
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let isClosed = false;
  return {
    input: new ReadableStream<Uint8Array>({ start: (c) => c.close() }),
    async write(data) {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      const joined = new Uint8Array(pending.length + bytes.length);
      joined.set(pending);
      joined.set(bytes, pending.length);
      let at = 0;
      while (joined.length - at >= FRAME_HEADER) {
        const size = new DataView(joined.buffer, joined.byteOffset + at + 4, 4).getUint32(0);
        if (joined.length - at - FRAME_HEADER < size) break;
        await output(joined.subarray(at + FRAME_HEADER, at + FRAME_HEADER + size));
        at += FRAME_HEADER + size;
      }
      pending = joined.slice(at);
    },
    async end() {
      isClosed = true;
      resolveClosed();
    },
    closed,
    get isClosed() {
      return isClosed;
    },
    finish() {
      isClosed = true;
      resolveClosed();
    },
  };
}

export class ContainerBuildRunner implements BuildRunner {
  constructor(
    private readonly containers: ContainerService,
    private readonly driver: GraphDriver,
  ) {}

  async create(spec: BuildRunSpec): Promise<BuildContainer> {
    if (!spec.image) throw new InvalidParameterError("RUN needs an image to run in: an empty image (FROM scratch) has no command to run");
    if (spec.mounts.length > 0) throw new InvalidParameterError("RUN mounts are not supported");
    const { Id: id } = await this.containers.create(
      {
        Image: spec.image.id,
        Cmd: spec.cmd,
        Entrypoint: [""],
        Env: spec.env,
        WorkingDir: spec.workdir,
        User: spec.user,
        Tty: false,
        AttachStdout: true,
        AttachStderr: true,
        HostConfig: { NetworkMode: spec.network },
      },
      undefined,
    );
    const { containers, driver } = this;
    return {
      id,
      async run(output, signal) {
        const sink = outputSink(output);
        const attached = containers.attach(id, sink, { stdin: false, stdout: true, stderr: true, logs: false, stream: true, detachKeys: new Uint8Array(0) }, signal);
        const onAbort = () => void containers.kill(id, "SIGKILL").catch(() => {});
        signal.addEventListener("abort", onAbort, { once: true });
        try {
          await containers.start(id);
          const result = await containers.wait(id, "not-running", signal);
          // The attachment ends once the run's output has all been written to it.
          await attached;
          return result.StatusCode;
        } finally {
          signal.removeEventListener("abort", onAbort);
          sink.finish();
        }
      },
      diff: () => layerTar(driver, id),
      remove: () => containers.remove(id, true),
    };
  }
}
