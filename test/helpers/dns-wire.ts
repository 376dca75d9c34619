/**
 * Just enough DNS wire format for tests: build an A query, answer one like a tiny upstream resolver, and
 * read the A records out of a reply. Independent of drivers/network/dns.ts on purpose.
 */
export function dnsQuery(id: number, name: string, type = 1): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  return Uint8Array.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, type >> 8, type & 255, 0, 1]);
}

/** Reply to a single-question query with one A record (what a real upstream would do). */
export function dnsReplyA(query: Uint8Array, ip: string): Uint8Array {
  const head = Uint8Array.from(query);
  head[2] = 0x81; // QR + RD
  head[3] = 0x80; // RA, NOERROR
  head[7] = 1; // one answer
  const rr = [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip.split(".").map(Number)];
  return Uint8Array.from([...head, ...rr]);
}

/** The rcode and the A records of a reply whose answers point back at the question's name. */
export function dnsAnswers(reply: Uint8Array): { id: number; rcode: number; addresses: string[] } {
  let at = 12;
  while (reply[at] !== 0) at += reply[at]! + 1;
  at += 5;
  const addresses: string[] = [];
  for (let i = 0; i < ((reply[6]! << 8) | reply[7]!); i++) {
    const type = (reply[at + 2]! << 8) | reply[at + 3]!;
    const len = (reply[at + 10]! << 8) | reply[at + 11]!;
    if (type === 1) addresses.push(Array.from(reply.subarray(at + 12, at + 16)).join("."));
    at += 12 + len;
  }
  return { id: (reply[0]! << 8) | reply[1]!, rcode: reply[3]! & 15, addresses };
}
