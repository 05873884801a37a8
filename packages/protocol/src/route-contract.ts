import type { z } from 'zod';

/** Who may call a route. */
export type Auth = 'none' | 'user' | 'admin' | 'device';

export interface RouteContract {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  summary: string;
  auth: Auth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  status?: number;
}
