/**
 * The busybox fixture pushed under another repository name, e.g. `library/busybox` so that a registry on
 * 127.0.0.1 can stand in for Docker Hub as a pull-through mirror.
 */
import { readFileSync } from "node:fs";
import { RegistryClient } from "../../src/registry/client";
import { blobPath, buildFixtures } from "../fixtures/images";

/** Pushes busybox as `<registry>/<repository>:latest`; returns the manifest digest. */
export async function pushBusyboxAs(registry: string, repository: string): Promise<string> {
  const busybox = (await buildFixtures()).busybox;
  const client = new RegistryClient();
  const target = `${registry}/${repository}`;
  for (const blob of [busybox.config, ...busybox.layers]) {
    if (!(await client.blobExists(target, blob.digest))) await client.uploadBlob(target, Bun.file(blobPath(blob.digest)), { digest: blob.digest });
  }
  await client.putManifest(`${target}:latest`, readFileSync(blobPath(busybox.manifest.digest)), { mediaType: busybox.manifest.mediaType });
  return busybox.manifest.digest;
}
