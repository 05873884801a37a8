/**
 * One figure of this bench. `path` says whose figure it is: `p2pvps` (our gateway and
 * agent) or `openssh` (stock sshd and `ssh -R`, for comparison). `target` is the goal in
 * the same unit, and `met` whether the value reaches it; both are absent for figures
 * that only inform.
 */
export interface IdleRow {
  metric: string;
  path: 'p2pvps' | 'openssh';
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
  note?: string;
}
