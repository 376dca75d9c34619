/** WASM binaries imported `with { type: "file" }` resolve to a path (inside $bunfs in a compiled binary). */
declare module "*.wasm" {
  const path: string;
  export default path;
}
