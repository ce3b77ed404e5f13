/**
 * The chaos suite's summary: one row per scenario (faults injected, tasks completed, events lost),
 * printed as a table when the suite ends.
 */

export interface ScenarioRow {
  scenario: string;
  faults: string;
  /** Tasks that reached the end the scenario expects (succeeded, or failed/canceled on purpose). */
  completed: string;
  eventsLost: number;
  note?: string;
}

const rows: ScenarioRow[] = [];

export function record(row: ScenarioRow): void {
  rows.push(row);
}

export function table(): string {
  const head: ScenarioRow = {
    scenario: 'scenario',
    faults: 'faults injected',
    completed: 'tasks completed',
    eventsLost: 0,
    note: 'notes',
  };
  const cells = (r: ScenarioRow, isHead = false) => [
    r.scenario,
    r.faults,
    r.completed,
    isHead ? 'events lost' : String(r.eventsLost),
    r.note ?? '',
  ];
  const all = [cells(head, true), ...rows.map((r) => cells(r))];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(all[0]!), rule, ...all.slice(1).map(line)].join('\n');
}
