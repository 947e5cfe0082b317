export const STANDARD_POSTGRES_PORT = 5432;
export const STANDARD_NATS_PORT = 4222;

export const postgresUrl = (port: number, password?: string): string =>
  `postgres://postgres${password ? `:${password}` : ''}@127.0.0.1:${port}/postgres`;
export const natsUrl = (port: number): string => `nats://127.0.0.1:${port}`;

/** For printing: a URL without its password. */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
};
