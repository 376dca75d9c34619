/**
 * `GET /containers/{id}/export`: the container's whole root filesystem (its mounted, merged view) as one tar, named
 * relative to the root (`bin/`, `etc/passwd`, ...). Walked through held directory fds without following symlinks,
 * so a running container that rearranges its tree meanwhile cannot make the export read anything outside it.
 */
import { close } from "../../drivers/libc/libc";
import { toReadableStream } from "../images/streams";
import { openDirPath } from "./fs-at";
import { TarEntryWriter } from "./tar-entries";
import { walkTree } from "./walk";

export function exportTar(rootDir: string): ReadableStream<Uint8Array> {
  return toReadableStream(exportEntries(rootDir));
}

async function* exportEntries(rootDir: string): AsyncGenerator<Uint8Array> {
  const writer = new TarEntryWriter();
  const rootFd = openDirPath(rootDir);
  try {
    for await (const node of walkTree(rootFd)) yield* writer.node(node.path.join("/"), node);
    yield writer.end();
  } finally {
    close(rootFd);
  }
}
