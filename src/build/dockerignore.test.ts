import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyDockerignore } from "./context";
import { IgnoreMatcher } from "./dockerignore";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe(".dockerignore patterns", () => {
  const m = (text: string) => IgnoreMatcher.parse(text);

  test("plain names, directories and their contents, comments, leading slash and ./", () => {
    const matcher = m("# comment\nsecret.txt\n/build\n./logs/\n");
    expect(matcher.matches("secret.txt")).toBe(true);
    expect(matcher.matches("sub/secret.txt")).toBe(false);
    expect(matcher.matches("build")).toBe(true);
    expect(matcher.matches("build/out/a.o")).toBe(true);
    expect(matcher.matches("logs/x.log")).toBe(true);
    expect(matcher.matches("# comment")).toBe(false);
  });

  test("* and ? stay within a component; ** crosses any number of them", () => {
    const matcher = m("*.tmp\ndocs/?.md\n**/cache\nout/**/*.o\n");
    expect(matcher.matches("a.tmp")).toBe(true);
    expect(matcher.matches("dir/a.tmp")).toBe(false);
    expect(matcher.matches("docs/a.md")).toBe(true);
    expect(matcher.matches("docs/ab.md")).toBe(false);
    expect(matcher.matches("cache")).toBe(true);
    expect(matcher.matches("x/y/cache/z")).toBe(true);
    expect(matcher.matches("out/a.o")).toBe(true);
    expect(matcher.matches("out/deep/er/a.o")).toBe(true);
    expect(matcher.matches("out/a.c")).toBe(false);
  });

  test("! exceptions, last match wins, [] classes and escapes", () => {
    const matcher = m("*.md\n!README.md\nREADME.md.bak\n[ab].txt\n\\*star");
    expect(matcher.matches("CHANGES.md")).toBe(true);
    expect(matcher.matches("README.md")).toBe(false);
    expect(matcher.matches("a.txt")).toBe(true);
    expect(matcher.matches("c.txt")).toBe(false);
    expect(matcher.matches("*star")).toBe(true);
    expect(matcher.matches("xstar")).toBe(false);
    expect(matcher.hasExclusions).toBe(true);
  });
});

describe("applying .dockerignore to a context", () => {
  test("removes matches, keeps exceptions inside excluded directories, never follows symlinks", () => {
    const root = mkdtempSync(join(tmpdir(), "bunker-ignore-"));
    const outside = mkdtempSync(join(tmpdir(), "bunker-ignore-outside-"));
    dirs.push(root, outside);
    writeFileSync(join(outside, "precious"), "keep me");
    mkdirSync(join(root, "node_modules/pkg"), { recursive: true });
    writeFileSync(join(root, "node_modules/pkg/index.js"), "x");
    mkdirSync(join(root, "docs/internal"), { recursive: true });
    writeFileSync(join(root, "docs/internal/notes.md"), "x");
    writeFileSync(join(root, "docs/keep.md"), "x");
    writeFileSync(join(root, "app.js"), "x");
    writeFileSync(join(root, "secret.env"), "x");
    symlinkSync(outside, join(root, "link"));
    applyDockerignore(root, IgnoreMatcher.parse("node_modules\ndocs\n!docs/keep.md\n*.env\nlink\n"));
    expect(existsSync(join(root, "node_modules"))).toBe(false);
    expect(existsSync(join(root, "docs/internal"))).toBe(false);
    expect(existsSync(join(root, "docs/keep.md"))).toBe(true);
    expect(existsSync(join(root, "app.js"))).toBe(true);
    expect(existsSync(join(root, "secret.env"))).toBe(false);
    expect(existsSync(join(root, "link"))).toBe(false);
    expect(existsSync(join(outside, "precious"))).toBe(true);
  });
});
