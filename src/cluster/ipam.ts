// The Calico IPAM plan: how the pod CIDR splits into blocks, what each node and the cluster can hold,
// and which blocks nodes would take first — what `calicoctl ipam show --show-blocks` shows after the fact.
import { ipToString, parseCidr } from '../net.ts';
import type { Site } from '../schema.ts';

export interface IpamPlan {
  pool: string;
  blockSize: number;
  addressesPerBlock: number;
  totalBlocks: number;
  totalAddresses: number;
  maxPodsPerNode: number;
  /** Blocks a node needs to run maxPodsPerNode pods. */
  blocksPerNode: number;
  nodes: { name: string; blocks: string[]; capacity: number }[];
  /** How many nodes of maxPodsPerNode the pool can serve. */
  maxNodes: number;
  /** Pods the cluster can run at most (limited by addresses and by maxPods × nodes). */
  clusterPodCapacity: number;
  problems: string[];
}

export function ipamPlan(site: Site): IpamPlan | undefined {
  const c = site.cluster;
  const pool = c && parseCidr(c.podCIDR);
  if (!c || !pool) return undefined;
  const bs = c.cni.blockSize;
  const perBlock = 2 ** (32 - bs);
  const totalBlocks = bs >= pool.prefix ? 2 ** (bs - pool.prefix) : 0;
  const blocksPerNode = Math.ceil(c.maxPodsPerNode / perBlock);
  const nodeHosts = site.hosts.filter((h) => h.roles.includes('control-plane') || h.roles.includes('worker'));
  const problems: string[] = [];
  if (totalBlocks === 0) problems.push(`blockSize /${bs} is larger than the pool ${pool.text}`);
  const nodes = nodeHosts.map((h, i) => {
    const blocks: string[] = [];
    for (let k = 0; k < blocksPerNode; k++) {
      const idx = i * blocksPerNode + k;
      if (idx < totalBlocks) blocks.push(`${ipToString(pool.base + idx * perBlock)}/${bs}`);
    }
    if (blocks.length < blocksPerNode) problems.push(`${h.name} gets ${blocks.length} of the ${blocksPerNode} block(s) it needs: the pool is exhausted`);
    return { name: h.name, blocks, capacity: Math.min(c.maxPodsPerNode, blocks.length * perBlock) };
  });
  const maxNodes = blocksPerNode ? Math.floor(totalBlocks / blocksPerNode) : 0;
  return {
    pool: pool.text,
    blockSize: bs,
    addressesPerBlock: perBlock,
    totalBlocks,
    totalAddresses: 2 ** (32 - pool.prefix),
    maxPodsPerNode: c.maxPodsPerNode,
    blocksPerNode,
    nodes,
    maxNodes,
    clusterPodCapacity: Math.min(2 ** (32 - pool.prefix), maxNodes * c.maxPodsPerNode),
    problems,
  };
}

/** Text like calicoctl's table: the pool, then each node's blocks. */
export function formatIpamPlan(p: IpamPlan): string {
  const rows: [string, string, string, string][] = [['GROUPING', 'CIDR', 'IPS TOTAL', 'FOR PODS']];
  rows.push(['IP Pool', p.pool, String(p.totalAddresses), `${p.clusterPodCapacity} (max ${p.maxNodes} nodes × ${p.maxPodsPerNode})`]);
  for (const n of p.nodes) for (const b of n.blocks) rows.push([`Block (${n.name})`, b, String(p.addressesPerBlock), '']);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  const sep = `+${w.map((x) => '-'.repeat(x + 2)).join('+')}+`;
  const out = [sep, line(rows[0]!), sep, ...rows.slice(1).map(line), sep];
  out.push(`blocks of /${p.blockSize} (${p.addressesPerBlock} addresses): ${p.totalBlocks} in the pool, ${p.blocksPerNode} per node for ${p.maxPodsPerNode} pods`);
  for (const pr of p.problems) out.push(`problem: ${pr}`);
  return `${out.join('\n')}\n`;
}
