import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeAddress } from '@p2pvps/protocol/agent-schemas';
import { ServerNodes } from './server-nodes.ts';

const node = (n: number, scheme = 'https'): NodeAddress => ({
  apiUrl: `${scheme}://node${n}.example.org`,
  gateway: { host: `node${n}.example.org`, port: 2222 },
});
const home: NodeAddress = { apiUrl: 'https://market.example.org', gateway: { host: 'market.example.org', port: 2222 } };

function nodes(known: NodeAddress[] = [], allowPlainHttp = false) {
  const saved: NodeAddress[][] = [];
  const logs: string[] = [];
  const list = new ServerNodes(home, { allowPlainHttp, log: (_l, m) => logs.push(m), save: (n) => saved.push(n) }, known);
  return { list, saved, logs };
}

test('a single server is one node: nothing to move to', () => {
  const { list } = nodes();
  assert.deepEqual(list.current(), home);
  list.apiUnreachable(home.apiUrl);
  assert.deepEqual(list.current(), home);
});

test("the cluster's nodes are learned and kept; the server URL stays last, for DNS to lead to a live node", () => {
  const { list, saved } = nodes();
  list.learn([node(1), node(2)]);
  assert.deepEqual(list.list(), [node(1), node(2), home]);
  assert.deepEqual(saved, [[node(1), node(2)]], 'written to the state file');
  list.learn([node(1), node(2)]);
  assert.equal(saved.length, 1, 'the same list is not written again');
  // After a restart the agent starts from what it knew.
  assert.deepEqual(nodes([node(1), node(2)]).list.list(), [node(1), node(2), home]);
});

test('a node that cannot be reached sends the agent to the next, once, whichever part noticed first', () => {
  const { list } = nodes([node(1), node(2), node(3)]);
  assert.deepEqual(list.current(), node(1));
  list.gatewayUnreachable(node(1).gateway);
  assert.deepEqual(list.current(), node(2));
  // The API call and the event stream to node 1 fail too, later: the agent stays on node 2.
  list.apiUnreachable(node(1).apiUrl);
  list.gatewayUnreachable(node(1).gateway);
  assert.deepEqual(list.current(), node(2));
  list.apiUnreachable(node(2).apiUrl);
  list.apiUnreachable(node(3).apiUrl);
  assert.deepEqual(list.current(), home);
  list.apiUnreachable(home.apiUrl);
  assert.deepEqual(list.current(), node(1), 'round the list');
});

test('a new list keeps the agent on its node while that node is listed', () => {
  const { list } = nodes([node(1), node(2)]);
  list.apiUnreachable(node(1).apiUrl);
  assert.deepEqual(list.current(), node(2));
  list.learn([node(3), node(2)]);
  assert.deepEqual(list.current(), node(2));
  list.learn([node(3)]);
  assert.deepEqual(list.current(), node(3), 'its node left the cluster: the first of the new list');
});

test('a node on plain http to another machine is not used unless the owner allowed plain http', () => {
  const { list, logs } = nodes();
  list.learn([node(1, 'http'), node(2)]);
  assert.deepEqual(list.list(), [node(2), home]);
  assert.match(logs.join('\n'), /not using the server node http:\/\/node1\.example\.org/);
  const lab = nodes([], true).list;
  lab.learn([node(1, 'http')]);
  assert.deepEqual(lab.list(), [node(1, 'http'), home]);
});
