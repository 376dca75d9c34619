export { compileSeccomp, type CompileOptions, type CompiledSeccomp } from "./compile";
export { DEFAULT_SECCOMP_PROFILE } from "./default-profile";
export { parseSeccompProfile, SeccompProfileError, type SeccompProfile, type SeccompRule, type SeccompArg, type SeccompAction } from "./profile";
export { validateFilter, decodeFilter, BpfError, type SockFilter } from "./bpf";
