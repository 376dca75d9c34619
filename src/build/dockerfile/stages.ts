/**
 * A parsed Dockerfile as the builder runs it: the ARGs declared before the first FROM (usable in FROM lines),
 * then the build stages, each a FROM and its instructions. `--target` cuts the list after the named stage.
 */
import { DockerfileError } from "./errors";
import { parseInstruction, type Instruction, type InstructionOf } from "./instructions";
import { parseDockerfile, type EscapeToken } from "./parser";

export interface Stage {
  /** Position in the Dockerfile (what `COPY --from=0` names). */
  index: number;
  name: string | null;
  from: InstructionOf<"FROM">;
  instructions: Instruction[];
}

export interface BuildPlan {
  escape: EscapeToken;
  metaArgs: InstructionOf<"ARG">[];
  stages: Stage[];
}

export function planDockerfile(text: string, file: string): BuildPlan {
  const parsed = parseDockerfile(text, file);
  const metaArgs: InstructionOf<"ARG">[] = [];
  const stages: Stage[] = [];
  for (const raw of parsed.instructions) {
    const instruction = parseInstruction(raw, parsed.escape);
    if (instruction.kind === "FROM") {
      if (instruction.stageName && stages.some((s) => s.name === instruction.stageName)) {
        throw new DockerfileError(instruction.location, `duplicate name for build stage: ${JSON.stringify(instruction.stageName)}`);
      }
      stages.push({ index: stages.length, name: instruction.stageName, from: instruction, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage) stage.instructions.push(instruction);
    else if (instruction.kind === "ARG") metaArgs.push(instruction);
    else throw new DockerfileError(instruction.location, `${instruction.kind} before the first FROM: only ARG may come first (no build stage specified)`);
  }
  if (stages.length === 0) throw new DockerfileError(null, `${file} has no FROM instruction`);
  return { escape: parsed.escape, metaArgs, stages };
}

/** The stages up to and including `target` (all of them when no target is named). */
export function stagesUpTo(plan: BuildPlan, target: string | undefined): Stage[] {
  if (!target) return plan.stages;
  const at = plan.stages.findIndex((s) => s.name === target.toLowerCase());
  if (at < 0) throw new DockerfileError(null, `failed to reach build target ${target} in Dockerfile`);
  return plan.stages.slice(0, at + 1);
}
