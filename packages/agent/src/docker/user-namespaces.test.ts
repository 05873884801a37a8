import { test } from 'node:test';
import assert from 'node:assert/strict';
import { remappedRootOf } from './user-namespaces.ts';

test("the remapped root is read from the engine's data root when user namespaces are on", () => {
  const info = { SecurityOptions: ['name=seccomp,profile=default', 'name=userns'], DockerRootDir: '/var/lib/docker/231072.231072' };
  assert.deepEqual(remappedRootOf(info), { uid: 231072, gid: 231072 });
});

test('no user namespaces, no readable mapping, or a mapping to root: the renter gets no root', () => {
  assert.equal(remappedRootOf({ SecurityOptions: ['name=seccomp,profile=default'], DockerRootDir: '/var/lib/docker' }), null);
  assert.equal(remappedRootOf({ SecurityOptions: ['name=userns'], DockerRootDir: '/var/lib/docker' }), null);
  assert.equal(remappedRootOf({ SecurityOptions: ['name=userns'], DockerRootDir: '/var/lib/docker/0.0' }), null);
  assert.equal(remappedRootOf({ SecurityOptions: 'name=userns' }), null, 'an answer of the wrong shape');
  assert.equal(remappedRootOf(null), null);
});
