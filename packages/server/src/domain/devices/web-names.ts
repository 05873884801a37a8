import { isUniqueViolation } from '../../db/database.ts';
import { updateDevice } from '../../db/devices-repo.ts';
import type { DomainContext } from '../context.ts';
import { newWebName } from '../secrets.ts';

/**
 * Gives a device a fresh random web name, for a rental that starts: a name never serves
 * two rentals, so the next renter inherits nothing of the last one's (visitors' cookies
 * for the name, OAuth redirect URIs and webhooks registered on it, certificates issued
 * for it), and the old name leads nowhere from now on. Returns the new name. The caller
 * tells the device (ctx.notifyDevice), which also clears the front doors' route cache.
 */
export async function rotateWebName(ctx: DomainContext, deviceId: string): Promise<string> {
  // The unique index on web_name settles the (very unlikely) clash of two random names.
  for (let attempt = 0; ; attempt++) {
    const webName = newWebName();
    try {
      await updateDevice(ctx.db, deviceId, { web_name: webName });
      return webName;
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= 20) throw err;
    }
  }
}
