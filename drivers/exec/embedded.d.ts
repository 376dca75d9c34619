/** C sources imported `with { type: "file" }` resolve to a path (inside $bunfs in a compiled binary). */
declare module "*.c" {
  const path: string;
  export default path;
}
