/**
 * Layer extraction: entries/s and MB/s (of uncompressed tar) for a layer of 20,000 small files and one of five
 * 20 MiB files, our extractor (src/layers/extract.ts, overlay whiteout mode, in this process as the daemon runs it)
 * against GNU tar (`tar -xf`, as root so it restores owners and modes too) on the same tar, into fresh directories
 * on the same filesystem. Runs of the two alternate, so drift from other load on the machine hits both alike;
 * neither syncs to disk. "bunker" is our extractor, the peer is GNU tar.
 *
 * Two filesystems: tmpfs (/dev/shm), where the extractors' own cost shows, with the full run count; and the disk
 * that holds /tmp (where data roots live), with a few runs in a full run only. On these hosts the disk's ext4 is
 * shared with other busy users, and creating a file there costs ~0.5 ms in the kernel (ext4's inode allocator
 * skipping recently deleted inodes: perf shows `recently_deleted` under `__ext4_new_inode`), whoever extracts.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { extractTar } from "../../src/layers/extract.ts";
import { compareFigures, runCount, summarize } from "../stats.ts";
import type { BenchCase, BenchContext, Figure } from "../types.ts";

const MIB = 1024 * 1024;

interface Layer {
  label: string;
  tar: string;
  entries: number;
  bytes: number;
}

/** Deterministic, so every run extracts the same tree. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 2 ** 32;
  };
}

async function tarDirectory(source: string, tar: string): Promise<void> {
  const proc = Bun.spawn(["tar", "-cf", tar, "--numeric-owner", "-C", source, "."], { stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`tar -cf ${tar}: ${await new Response(proc.stderr).text()}`);
}

/** `files` files of 0–4 KiB in directories of 100, like a package tree. */
async function smallFileLayer(dir: string, files: number): Promise<Layer> {
  const source = join(dir, "small-src");
  const random = seededRandom(20_000);
  const content = new Uint8Array(4096).fill(0x61);
  let directories = 0;
  for (let i = 0; i < files; i++) {
    const sub = join(source, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) {
      mkdirSync(sub, { recursive: true });
      directories++;
    }
    writeFileSync(join(sub, `f${i}.txt`), content.subarray(0, Math.floor(random() * 4097)));
  }
  const tar = join(dir, "small.tar");
  await tarDirectory(source, tar);
  rmSync(source, { recursive: true, force: true });
  // The entries: ".", the directories and the files.
  return { label: `${files.toLocaleString("en-US")} small files (0-4 KiB)`, tar, entries: 1 + directories + files, bytes: statSync(tar).size };
}

async function largeFileLayer(dir: string, files: number, mib: number): Promise<Layer> {
  const source = join(dir, "large-src");
  mkdirSync(source);
  const chunk = new Uint8Array(MIB);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  for (let offset = 65536; offset < MIB; offset += 65536) chunk.copyWithin(offset, 0, 65536);
  for (let i = 0; i < files; i++) writeFileSync(join(source, `blob${i}`), Buffer.concat(Array.from({ length: mib }, () => chunk)));
  const tar = join(dir, "large.tar");
  await tarDirectory(source, tar);
  rmSync(source, { recursive: true, force: true });
  return { label: `${files} × ${mib} MiB files`, tar, entries: 1 + files, bytes: statSync(tar).size };
}

async function timedGnuTar(tar: string, target: string): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(["tar", "-xf", tar, "-C", target], { stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`tar -xf ${tar}: ${await new Response(proc.stderr).text()}`);
  return (performance.now() - started) / 1000;
}

async function timedExtractTar(tar: string, target: string): Promise<number> {
  const started = performance.now();
  await extractTar(Bun.file(tar).stream(), target, { whiteout: "overlay" });
  return (performance.now() - started) / 1000;
}

/** Seconds of each extractor per run, alternating; every run writes into a fresh directory, removed untimed. */
async function measureLayer(context: BenchContext, where: Place, layer: Layer, runs: number): Promise<Figure[]> {
  const ours: number[] = [];
  const gnu: number[] = [];
  let run = 0;
  const once = async (extract: (tar: string, target: string) => Promise<number>, into: number[] | null) => {
    const target = join(where.dir, `target-${run++}`);
    mkdirSync(target);
    try {
      const seconds = await extract(layer.tar, target);
      into?.push(seconds);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  };
  context.log(`extract: ${layer.label} on ${where.name}, ${runs} runs each`);
  await once(timedExtractTar, null);
  await once(timedGnuTar, null);
  for (let i = 0; i < runs; i++) {
    await once(timedExtractTar, ours);
    await once(timedGnuTar, gnu);
  }
  const rate = (quantity: number, seconds: number[]) => summarize(seconds.map((s) => quantity / s));
  const megabytes = layer.bytes / 1e6;
  return [
    compareFigures(`extract ${layer.label} (${where.name}): entries/s`, "entries/s", "higher", rate(layer.entries, ours), { name: "GNU tar", ...rate(layer.entries, gnu) }),
    compareFigures(`extract ${layer.label} (${where.name}): MB/s of tar`, "MB/s", "higher", rate(megabytes, ours), { name: "GNU tar", ...rate(megabytes, gnu) }),
  ];
}

interface Place {
  name: string;
  dir: string;
}

/** The layer's tar copied into `where`, so the extractors read and write the same filesystem. */
function copyInto(layer: Layer, where: Place): Layer {
  const tar = join(where.dir, basename(layer.tar));
  copyFileSync(layer.tar, tar);
  return { ...layer, tar };
}

export const extractCase: BenchCase = {
  name: "extract",
  async run(context) {
    const memory: Place = { name: "tmpfs", dir: mkdtempSync("/dev/shm/bench-extract-") };
    const disk: Place = { name: "disk, ext4", dir: mkdtempSync(join(tmpdir(), "bench-extract-")) };
    try {
      const layers = [await smallFileLayer(memory.dir, 20_000), await largeFileLayer(memory.dir, 5, 20)];
      const figures: Figure[] = [];
      for (const layer of layers) figures.push(...(await measureLayer(context, memory, layer, runCount(context, 3))));
      if (!context.quick) for (const layer of layers) figures.push(...(await measureLayer(context, disk, copyInto(layer, disk), 5)));
      return figures;
    } finally {
      rmSync(memory.dir, { recursive: true, force: true });
      rmSync(disk.dir, { recursive: true, force: true });
    }
  },
};
