import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAppCatalogue } from '../../services/app-catalogue.ts';
import { DomainError } from '../errors.ts';
import { presentRentalApp, resolveRentPackage, withWebHost } from './app-packages.ts';

const catalogue = loadAppCatalogue();
const device = { name: 'pi', refusedPackages: ['tor-onion'] };
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof DomainError);
    return { code: err.code, fields: err.fields, message: err.message };
  }
  assert.fail('accepted');
};

test('a package is resolved with its defaults, the renter settings over them, and the web name when it goes to the device', () => {
  const app = resolveRentPackage(catalogue, { name: 'wiki', settings: {} }, device);
  assert.deepEqual(app.settings, { WIKI_TITLE: 'My wiki' });
  const set = resolveRentPackage(catalogue, { name: 'wiki', settings: { WIKI_TITLE: 'Notes' } }, device);
  assert.deepEqual(withWebHost(set, 'abc.vps.test').settings, { WIKI_TITLE: 'Notes', WEB_HOST: 'abc.vps.test' });
});

test('an unknown package, an unknown setting and a refused package are refused, each with its field', () => {
  assert.deepEqual(codeOf(() => resolveRentPackage(catalogue, { name: 'nope', settings: {} }, device)).fields, {
    'body.package.name': 'unknown package',
  });
  const setting = codeOf(() => resolveRentPackage(catalogue, { name: 'wiki', settings: { WEB_HOST: 'evil' } }, device));
  assert.equal(setting.code, 'invalid_request');
  assert.deepEqual(setting.fields, { 'body.package.settings.WEB_HOST': 'no such setting' });
  const refused = codeOf(() => resolveRentPackage(catalogue, { name: 'tor-onion', settings: {} }, device));
  assert.equal(refused.code, 'package_refused');
  assert.match(refused.message, /does not allow the package tor-onion/);
});

test('the renter sees addresses only once the package is healthy', () => {
  const app = JSON.stringify(resolveRentPackage(catalogue, { name: 'git-server', settings: {} }, device));
  const urls = { httpUrl: 'http://a.vps.test/', httpsUrl: 'https://a.vps.test/', sshCommand: 'ssh -p 2200 u@h' };
  assert.deepEqual(presentRentalApp({ app, app_state: 'installing', app_log: 'x' }, urls).addresses, []);
  assert.deepEqual(presentRentalApp({ app, app_state: 'healthy', app_log: 'x' }, urls).addresses, [
    'http://a.vps.test/',
    'ssh -p 2200 u@h (git clone ssh://root@HOST:PORT/srv/git/REPOSITORY.git)',
  ]);
});
