import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadServerConfig } from '../config.ts';
import { parseClusterNodes, StaticNodeDirectory } from './node-directory.ts';

test('--cluster-nodes names each node by its API URL and gateway address', async () => {
  const config = loadServerConfig(
    ['--cluster-nodes', 'https://node1.example.org/ 198.51.100.1:2222, https://node2.example.org:8443 [2001:db8::2]:22'],
    {},
  );
  assert.deepEqual(config.clusterNodes, [
    { apiUrl: 'https://node1.example.org', gateway: { host: '198.51.100.1', port: 2222 } },
    { apiUrl: 'https://node2.example.org:8443', gateway: { host: '2001:db8::2', port: 22 } },
  ]);
  assert.deepEqual(await new StaticNodeDirectory(config.clusterNodes).liveNodes(), config.clusterNodes);
  assert.deepEqual(loadServerConfig([], {}).clusterNodes, [], 'a single server by default');
});

test('a malformed node list stops the server with what is wrong', () => {
  assert.match(String(parseClusterNodes('https://node1.example.org')), /not "API_URL GATEWAY_HOST:PORT"/);
  assert.match(String(parseClusterNodes('ftp://node1 node1:22')), /not an http\(s\) URL/);
  assert.match(String(parseClusterNodes('https://node1 node1:99999')), /not a gateway HOST:PORT/);
  assert.throws(
    () => loadServerConfig(['--cluster-nodes', 'https://node1 node1'], {}),
    /--cluster-nodes \/ P2PVPS_CLUSTER_NODES: "node1" is not a gateway/,
  );
});
