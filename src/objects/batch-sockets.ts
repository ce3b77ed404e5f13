/**
 * Live subscribers of one batch, with the same contract as a task's (see subscribers.ts). Used only by
 * BatchObject.
 */
import type { BatchEvent, BatchSnapshot } from '../protocol/batch.ts';
import { Subscribers } from './subscribers.ts';

export class BatchSockets extends Subscribers<BatchSnapshot, BatchEvent> {
  constructor(ctx: DurableObjectState) {
    super(ctx, 'batch finished');
  }
}
