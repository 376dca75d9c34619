/**
 * Runs the userland proxy in whatever network namespace this process was started in (tests start it
 * with `ip netns exec`): `bun netns-proxy.ts <tcp|udp> <hostIp> <targetIp> <targetPort>`. Prints the port it
 * listens on, then runs until killed.
 */
import { startProxy } from "../../drivers/network/proxy";

const [proto, hostIp, targetIp, targetPort] = process.argv.slice(2);
if ((proto !== "tcp" && proto !== "udp") || !hostIp || !targetIp || !targetPort) {
  console.error("usage: netns-proxy.ts <tcp|udp> <hostIp> <targetIp> <targetPort>");
  process.exit(2);
}
const proxy = await startProxy({ proto, hostIp, hostPort: 0, targetIp, targetPort: Number(targetPort) });
console.log(proxy.port);
