/**
 * Expected errors cross Durable Object RPC as values (rpcResult) and are thrown again by the caller
 * (unwrap) with their code, status and retryable flag; anything unexpected still throws.
 */
import { describe, expect, it } from 'vitest';
import { ClipyardError, rpcResult, unwrap } from '../../src/protocol/errors.ts';

describe('rpcResult and unwrap', () => {
  it('carries a value through', async () => {
    expect(await rpcResult(() => 42)).toEqual({ ok: true, value: 42 });
    expect(await unwrap(rpcResult(async () => ({ a: 1 })))).toEqual({ a: 1 });
  });

  it('returns a ClipyardError as a value, and unwrap throws it again intact', async () => {
    const fail = () => {
      throw new ClipyardError('batch.not_finished', 'still running', { status: 409, retryable: true });
    };
    const result = await rpcResult(fail);
    expect(result).toEqual({
      ok: false,
      status: 409,
      error: { code: 'batch.not_finished', message: 'still running', retryable: true },
    });
    const thrown = await unwrap(result).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(ClipyardError);
    expect(thrown).toMatchObject({
      code: 'batch.not_finished',
      status: 409,
      retryable: true,
      message: 'still running',
    });
  });

  it('lets an unexpected error throw', async () => {
    await expect(rpcResult(() => Promise.reject(new TypeError('bug')))).rejects.toThrow(TypeError);
  });
});
