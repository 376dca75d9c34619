/**
 * Classic BPF as seccomp uses it: an assembler with symbolic labels (conditional jumps reach only 255
 * instructions forward, so far ones get a JA trampoline), the struct sock_filter encoding, and a checker that
 * mirrors what the kernel verifies before it accepts a filter.
 */

export const BPF = {
  LD_W_ABS: 0x20, // A = *(u32 *)(seccomp_data + k)
  ALU_AND_K: 0x54, // A &= k
  JA: 0x05, // pc += k
  JEQ_K: 0x15,
  JGT_K: 0x25,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
} as const;

/** Kernel limit (BPF_MAXINSNS). */
export const MAX_INSTRUCTIONS = 4096;
/** struct seccomp_data: nr, arch, instruction_pointer, args[6]. */
export const SECCOMP_DATA = { nr: 0, arch: 4, args: 16, size: 64 } as const;
export const SOCK_FILTER_SIZE = 8;

export interface Label {
  readonly id: number;
}

type Node =
  | { kind: "label"; label: Label }
  | { kind: "stmt"; code: number; k: number }
  | { kind: "jump"; code: number; k: number; jt: Label; jf: Label }
  | { kind: "ja"; target: Label };

export class BpfError extends Error {
  override name = "BpfError";
}

/** Builds a program in order; every jump must target a label placed later (BPF only jumps forward). */
export class BpfAssembler {
  private nodes: Node[] = [];
  private labelCount = 0;

  label(): Label {
    return { id: this.labelCount++ };
  }

  place(label: Label): void {
    this.nodes.push({ kind: "label", label });
  }

  load(offset: number): void {
    this.nodes.push({ kind: "stmt", code: BPF.LD_W_ABS, k: offset });
  }

  and(mask: number): void {
    this.nodes.push({ kind: "stmt", code: BPF.ALU_AND_K, k: mask });
  }

  ret(value: number): void {
    this.nodes.push({ kind: "stmt", code: BPF.RET_K, k: value });
  }

  jump(code: number, k: number, jt: Label, jf: Label): void {
    this.nodes.push({ kind: "jump", code, k, jt, jf });
  }

  goto(target: Label): void {
    this.nodes.push({ kind: "ja", target });
  }

  /** Lays out the program, inserting trampolines until every conditional jump is within 255. */
  assemble(): Uint8Array {
    for (;;) {
      const positions = this.layout();
      const far: { index: number; jt: boolean; jf: boolean }[] = [];
      this.nodes.forEach((node, index) => {
        if (node.kind !== "jump") return;
        const from = positions.nodes[index]! + 1;
        const jt = distance(positions.labels, node.jt, from) > 255;
        const jf = distance(positions.labels, node.jf, from) > 255;
        if (jt || jf) far.push({ index, jt, jf });
      });
      if (far.length === 0) return this.encode(positions);
      // Splice from the back so earlier indices stay valid.
      for (const { index, jt, jf } of far.reverse()) {
        const node = this.nodes[index] as Extract<Node, { kind: "jump" }>;
        const inserted: Node[] = [];
        if (jt) node.jt = this.trampoline(node.jt, inserted);
        if (jf) node.jf = this.trampoline(node.jf, inserted);
        this.nodes.splice(index + 1, 0, ...inserted);
      }
    }
  }

  private trampoline(target: Label, into: Node[]): Label {
    const hop = this.label();
    into.push({ kind: "label", label: hop }, { kind: "ja", target });
    return hop;
  }

  private layout(): { nodes: number[]; labels: Map<number, number> } {
    const nodes: number[] = [];
    const labels = new Map<number, number>();
    let pc = 0;
    for (const node of this.nodes) {
      nodes.push(pc);
      if (node.kind === "label") labels.set(node.label.id, pc);
      else pc++;
    }
    return { nodes, labels };
  }

  private encode(positions: { nodes: number[]; labels: Map<number, number> }): Uint8Array {
    const instructions: [number, number, number, number][] = [];
    this.nodes.forEach((node, index) => {
      const from = positions.nodes[index]! + 1;
      switch (node.kind) {
        case "label":
          return;
        case "stmt":
          instructions.push([node.code, 0, 0, node.k]);
          return;
        case "jump":
          instructions.push([node.code, distance(positions.labels, node.jt, from), distance(positions.labels, node.jf, from), node.k]);
          return;
        case "ja":
          instructions.push([BPF.JA, 0, 0, distance(positions.labels, node.target, from)]);
      }
    });
    if (instructions.length > MAX_INSTRUCTIONS) {
      throw new BpfError(`filter has ${instructions.length} instructions; the kernel accepts at most ${MAX_INSTRUCTIONS}`);
    }
    const bytes = new Uint8Array(instructions.length * SOCK_FILTER_SIZE);
    const view = new DataView(bytes.buffer);
    instructions.forEach(([code, jt, jf, k], i) => {
      const at = i * SOCK_FILTER_SIZE;
      view.setUint16(at, code, true);
      view.setUint8(at + 2, jt);
      view.setUint8(at + 3, jf);
      view.setUint32(at + 4, k >>> 0, true);
    });
    return bytes;
  }
}

function distance(labels: Map<number, number>, label: Label, from: number): number {
  const to = labels.get(label.id);
  if (to === undefined) throw new BpfError(`label ${label.id} is never placed`);
  if (to < from) throw new BpfError(`label ${label.id} is behind its jump; BPF only jumps forward`);
  return to - from;
}

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function decodeFilter(bytes: Uint8Array): SockFilter[] {
  if (bytes.length % SOCK_FILTER_SIZE !== 0) throw new BpfError(`filter length ${bytes.length} is not a multiple of 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SockFilter[] = [];
  for (let at = 0; at < bytes.length; at += SOCK_FILTER_SIZE) {
    out.push({ code: view.getUint16(at, true), jt: view.getUint8(at + 2), jf: view.getUint8(at + 3), k: view.getUint32(at + 4, true) });
  }
  return out;
}

/**
 * The checks the kernel makes (bpf_check_classic + seccomp_check_filter) for the instructions we emit:
 * known opcodes, aligned loads inside seccomp_data, every jump landing inside the program, and a final return
 * (with forward-only jumps that makes every path end in a return).
 */
export function validateFilter(bytes: Uint8Array): void {
  const program = decodeFilter(bytes);
  if (program.length === 0 || program.length > MAX_INSTRUCTIONS) throw new BpfError(`filter has ${program.length} instructions`);
  program.forEach((insn, pc) => {
    const inRange = (offset: number) => pc + 1 + offset < program.length;
    switch (insn.code) {
      case BPF.LD_W_ABS:
        if (insn.k % 4 !== 0 || insn.k >= SECCOMP_DATA.size) throw new BpfError(`pc ${pc}: load at offset ${insn.k} is outside seccomp_data`);
        return;
      case BPF.ALU_AND_K:
      case BPF.RET_K:
        return;
      case BPF.JA:
        if (!inRange(insn.k)) throw new BpfError(`pc ${pc}: ja ${insn.k} leaves the program`);
        return;
      case BPF.JEQ_K:
      case BPF.JGT_K:
      case BPF.JGE_K:
      case BPF.JSET_K:
        if (!inRange(insn.jt) || !inRange(insn.jf)) throw new BpfError(`pc ${pc}: jump ${insn.jt}/${insn.jf} leaves the program`);
        return;
      default:
        throw new BpfError(`pc ${pc}: opcode 0x${insn.code.toString(16)} is not allowed`);
    }
  });
  if (program[program.length - 1]!.code !== BPF.RET_K) throw new BpfError("filter does not end with a return");
}
