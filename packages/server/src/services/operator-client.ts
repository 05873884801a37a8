import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '@p2pvps/protocol/client';

/**
 * An API client logged in as the operator account the server created on first start,
 * with the password it wrote to its data directory. For the demo, tests and benches on
 * the server's own machine: they grant renters credit through the real API.
 */
export async function operatorClient(apiUrl: string, dataDir: string, email = 'admin@localhost'): Promise<ApiClient> {
  const password = (await readFile(join(dataDir, 'operator-password'), 'utf8')).trim();
  const api = new ApiClient({ baseUrl: apiUrl });
  const { token } = await api.call('login', { body: { email, password } });
  return api.withToken(token);
}
