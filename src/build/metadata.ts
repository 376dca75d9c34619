/**
 * The instructions that only change the image config (ENV, LABEL, EXPOSE, USER, STOPSIGNAL, VOLUME, CMD,
 * ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER): the new config, and the text docker's history shows
 * for the step (`ENV A=1`, after expansion).
 */
import { InvalidParameterError } from "../errors";
import type { ContainerConfig } from "../registry/types";
import { checkStopSignal, exposedPorts, healthConfig, withEnv } from "./config-values";
import type { CommandForm, Instruction } from "./dockerfile/instructions";

export type MetadataInstruction = Exclude<Instruction, { kind: "RUN" | "COPY" | "ADD" | "WORKDIR" | "ARG" | "FROM" }>;

export interface MetadataContext {
  /** Variable expansion with the step's variables. */
  expand(word: string): string;
  shell: string[];
  /** Whether this stage set CMD already (ENTRYPOINT then keeps it, otherwise it clears an inherited one). */
  cmdSet: boolean;
}

export interface MetadataResult {
  config: ContainerConfig;
  text: string;
  author?: string;
  cmdSet: boolean;
}

/** The argv of a command: exec form as it is, shell form run by the SHELL. */
export function commandOf(form: CommandForm, shell: string[]): string[] {
  return "exec" in form ? form.exec : [...shell, form.shell];
}

export function applyMetadata(current: ContainerConfig, instruction: MetadataInstruction, ctx: MetadataContext): MetadataResult {
  const x = ctx.expand;
  const config: ContainerConfig = structuredClone(current);
  let cmdSet = ctx.cmdSet;
  let text: string;
  let author: string | undefined;
  switch (instruction.kind) {
    case "ENV": {
      const pairs = instruction.pairs.map(([k, v]) => [x(k), x(v)] as const);
      for (const [key, value] of pairs) {
        if (key === "") throw new InvalidParameterError("ENV names can not be blank");
        config.Env = withEnv(config.Env ?? [], key, value);
      }
      text = `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      break;
    }
    case "LABEL": {
      const pairs = instruction.pairs.map(([k, v]) => [x(k), x(v)] as const);
      config.Labels = { ...config.Labels };
      for (const [key, value] of pairs) {
        if (key === "") throw new InvalidParameterError("LABEL names can not be blank");
        config.Labels[key] = value;
      }
      text = `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      break;
    }
    case "EXPOSE": {
      const ports = instruction.ports.flatMap((p) => exposedPorts(x(p)));
      config.ExposedPorts = { ...config.ExposedPorts };
      for (const port of ports) config.ExposedPorts[port] = {};
      text = `EXPOSE ${ports.join(" ")}`;
      break;
    }
    case "USER":
      config.User = x(instruction.value);
      text = `USER ${config.User}`;
      break;
    case "STOPSIGNAL": {
      const signal = x(instruction.value);
      checkStopSignal(signal);
      config.StopSignal = signal;
      text = `STOPSIGNAL ${signal}`;
      break;
    }
    case "VOLUME": {
      const paths = instruction.paths.map(x);
      if (paths.some((p) => p.trim() === "")) throw new InvalidParameterError("VOLUME specified can not be an empty string");
      config.Volumes = { ...config.Volumes };
      for (const path of paths) config.Volumes[path] = {};
      text = `VOLUME ${JSON.stringify(paths)}`;
      break;
    }
    case "CMD":
      config.Cmd = commandOf(instruction.command, ctx.shell);
      cmdSet = true;
      text = `CMD ${JSON.stringify(config.Cmd)}`;
      break;
    case "ENTRYPOINT":
      config.Entrypoint = "exec" in instruction.command && instruction.command.exec.length === 0 ? null : commandOf(instruction.command, ctx.shell);
      if (!cmdSet) config.Cmd = null;
      text = `ENTRYPOINT ${JSON.stringify(config.Entrypoint)}`;
      break;
    case "SHELL":
      config.Shell = instruction.shell;
      text = `SHELL ${JSON.stringify(instruction.shell)}`;
      break;
    case "HEALTHCHECK":
      config.Healthcheck = instruction.test === "NONE" ? { Test: ["NONE"] } : healthConfig("exec" in instruction.test ? ["CMD", ...instruction.test.exec] : ["CMD-SHELL", instruction.test.shell], instruction.options);
      text = `HEALTHCHECK ${JSON.stringify(config.Healthcheck)}`;
      break;
    case "ONBUILD":
      config.OnBuild = [...(config.OnBuild ?? []), instruction.trigger];
      text = `ONBUILD ${instruction.trigger}`;
      break;
    case "MAINTAINER":
      author = instruction.value;
      text = `MAINTAINER ${author}`;
      break;
  }
  return { config, text, author, cmdSet };
}
