/** Schema migrations, applied in order; never edit one that has shipped — append a new one. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE daemon_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];
