/** The docker-init executable imported `with { type: "file" }` resolves to a path (inside $bunfs in a compiled binary). */
declare module "*/docker-init" {
  const path: string;
  export default path;
}
