import { describe, expect, test } from "bun:test";
import { DockerfileError } from "./errors";
import { parseInstruction } from "./instructions";
import { parseDockerfile, splitInstruction } from "./parser";
import { planDockerfile, stagesUpTo } from "./stages";
import { expandWord, splitWords } from "./words";

const at = { file: "Dockerfile", line: 1 };

describe("parser", () => {
  test("continuations, comments inside them, blank lines and line numbers", () => {
    const text = ["# a comment", "", "FROM busybox", "RUN echo a \\", "  # dropped", "", "    && echo b", "  ENV A=1"].join("\n");
    const parsed = parseDockerfile(text, "Dockerfile");
    expect(parsed.instructions.map((i) => [i.keyword, i.location.line, i.original])).toEqual([
      ["FROM", 3, "FROM busybox"],
      ["RUN", 4, "RUN echo a     && echo b"],
      ["ENV", 8, "ENV A=1"],
    ]);
  });

  test("escape directive switches the continuation character; syntax is ignored; directives stop at the first other line", () => {
    const parsed = parseDockerfile("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n b\\", "Dockerfile");
    expect(parsed.escape).toBe("`");
    expect(parsed.instructions[1]!.original).toBe("RUN a  b\\");
    const late = parseDockerfile("FROM x\n# escape=`\nRUN a \\\n b", "Dockerfile");
    expect(late.escape).toBe("\\");
    expect(late.instructions[1]!.original).toBe("RUN a  b");
  });

  test("flags before the arguments, quotes removed, `--` ends them", () => {
    const raw = splitInstruction('COPY --from=build --chown="app user" a b', "\\", at);
    expect(raw.flags).toEqual(["--from=build", "--chown=app user"]);
    expect(raw.args).toBe("a b");
    expect(splitInstruction("RUN -- --not-a-flag", "\\", at).args).toBe("--not-a-flag");
  });

  test("errors name the file and line", () => {
    expect(() => planDockerfile("FROM x\n\nFOO bar", "sub/Dockerfile")).toThrow("sub/Dockerfile:3: unknown instruction: FOO");
    expect(() => planDockerfile("RUN x", "Dockerfile")).toThrow(DockerfileError);
    expect(() => planDockerfile("", "Dockerfile")).toThrow("cannot be empty");
    expect(() => planDockerfile('FROM x\nCMD ["a", \'b\']', "Dockerfile")).toThrow("Dockerfile:2: CMD: invalid JSON array form");
    expect(() => planDockerfile("FROM x\nCOPY --bogus=1 a b", "Dockerfile")).toThrow("Dockerfile:2: unknown flag: bogus");
    expect(() => planDockerfile("FROM x\nRUN --mount=type=cache,target=/x true", "Dockerfile")).toThrow("requires BuildKit");
    expect(() => planDockerfile("FROM x AS a\nFROM y AS a", "Dockerfile")).toThrow("Dockerfile:2: duplicate name");
    expect(() => planDockerfile("FROM x\nONBUILD ONBUILD RUN x", "Dockerfile")).toThrow("Chaining ONBUILD");
  });
});

describe("instructions", () => {
  const parse = (line: string) => parseInstruction(splitInstruction(line, "\\", at), "\\");

  test("exec and shell forms", () => {
    expect(parse('CMD ["cat", "/x"]')).toMatchObject({ kind: "CMD", command: { exec: ["cat", "/x"] } });
    expect(parse("CMD cat /x")).toMatchObject({ kind: "CMD", command: { shell: "cat /x" } });
    expect(parse('SHELL ["/bin/bash", "-c"]')).toMatchObject({ kind: "SHELL", shell: ["/bin/bash", "-c"] });
    expect(() => parse("SHELL /bin/bash")).toThrow("JSON form");
  });

  test("ENV and LABEL pairs, both forms; ARG with and without defaults", () => {
    expect(parse('ENV A=1 B="two words" C=x\\ y')).toMatchObject({ pairs: [["A", "1"], ["B", '"two words"'], ["C", "x\\ y"]] });
    expect(parse("ENV NAME some value")).toMatchObject({ pairs: [["NAME", "some value"]] });
    expect(parse("ARG A B=2")).toMatchObject({ kind: "ARG", args: [{ name: "A", value: null }, { name: "B", value: "2" }] });
    expect(() => parse("LABEL a=1 b")).toThrow("can't find =");
  });

  test("FROM with a stage name and platform; COPY with flags; HEALTHCHECK", () => {
    expect(parse("FROM --platform=linux/amd64 alpine AS Build")).toMatchObject({ image: "alpine", stageName: "build", platform: "linux/amd64" });
    expect(parse('COPY --from=0 --chmod=755 ["a b", "c", "/d/"]')).toMatchObject({ sources: ["a b", "c"], dest: "/d/", from: "0", chmod: "755" });
    expect(parse("HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://x/")).toMatchObject({ test: { shell: "curl -f http://x/" }, options: { interval: "5s", retries: "2" } });
    expect(parse("HEALTHCHECK NONE")).toMatchObject({ test: "NONE" });
    expect(() => parse("COPY onlyone")).toThrow("requires at least two arguments");
  });

  test("stages and --target", () => {
    const plan = planDockerfile("ARG V=1\nFROM a:$V AS one\nRUN x\nFROM one AS two\nFROM b", "Dockerfile");
    expect(plan.metaArgs).toHaveLength(1);
    expect(plan.stages.map((s) => [s.name, s.instructions.length])).toEqual([["one", 1], ["two", 0], [null, 0]]);
    expect(stagesUpTo(plan, "two")).toHaveLength(2);
    expect(() => stagesUpTo(plan, "nope")).toThrow("failed to reach build target nope");
  });
});

describe("words", () => {
  const vars: Record<string, string> = { A: "a", EMPTY: "", SP: "x y" };
  const lookup = (name: string) => vars[name];
  const x = (w: string) => expandWord(w, lookup, "\\");

  test("variables and modifiers", () => {
    expect(x("$A-${A}")).toBe("a-a");
    expect(x("${MISSING:-dflt} ${EMPTY:-e} ${EMPTY-e} ${A:+alt} ${MISSING:+alt}|")).toBe("dflt e  alt |");
    expect(x("${A+set}${MISSING+set}")).toBe("set");
    expect(() => x("${MISSING:?needs a value}")).toThrow("MISSING: needs a value");
    expect(() => x("${A")).toThrow("missing '}'");
    expect(x("$")).toBe("$");
  });

  test("quotes and escapes", () => {
    expect(x("'$A'")).toBe("$A");
    expect(x('"$A $SP"')).toBe("a x y");
    expect(x("\\$A")).toBe("$A");
    expect(x('"a\\"b\\n"')).toBe('a"b\\n');
    expect(expandWord("`$A", lookup, "`")).toBe("$A");
  });

  test("splitWords keeps quotes and escapes for the later expansion", () => {
    expect(splitWords('a="b c" d=e\\ f \'g h\'', "\\")).toEqual(['a="b c"', "d=e\\ f", "'g h'"]);
  });
});
