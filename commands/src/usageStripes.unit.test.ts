import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planGrant, usageStripeCount, type UsageStripe } from './usageStripes.ts';

const limits = { maxImages: 100, maxBytes: 10_000 };
const headroom = { images: 8, bytes: 800 };

function stripe(
  n: number,
  images: number,
  imagesGranted: number,
  bytes = images * 10,
  bytesGranted = imagesGranted * 10,
): UsageStripe {
  return { stripe: n, images, bytes, imagesGranted, bytesGranted };
}
const total = (rows: UsageStripe[], field: keyof UsageStripe) => rows.reduce((s, r) => s + r[field], 0);

/** A tiny deterministic generator, so a failing sequence can be replayed. */
function random(seed: number) {
  let state = seed;
  return (below: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % below;
  };
}

describe('planGrant (usage stripes)', () => {
  it('counts the change on its stripe and grants headroom there, other stripes untouched', () => {
    const plan = planGrant(
      [stripe(0, 5, 5), stripe(3, 2, 10)],
      0,
      { images: 1, bytes: 10 },
      limits,
      headroom,
    );
    assert.deepEqual(plan, [
      { stripe: 0, images: 6, bytes: 60, imagesGranted: 14, bytesGranted: 860 },
      stripe(3, 2, 10),
    ]);
  });

  it('refuses a change that would take the total past either limit', () => {
    assert.equal(planGrant([stripe(0, 100, 100)], 1, { images: 1, bytes: 1 }, limits, headroom), 'limit');
    assert.equal(
      planGrant([stripe(0, 1, 1, 9_999, 9_999)], 1, { images: 1, bytes: 2 }, limits, headroom),
      'limit',
    );
  });

  it('takes back idle grants of other stripes when the limits leave no room, and grants exactly', () => {
    // 90 images used on stripe 1 but 99 granted there; stripe 0 wants one more at 9 used.
    const plan = planGrant(
      [stripe(0, 9, 9), stripe(1, 90, 99)],
      0,
      { images: 1, bytes: 10 },
      limits,
      headroom,
    );
    assert.notEqual(plan, 'limit');
    assert.deepEqual(plan, [
      { stripe: 0, images: 10, bytes: 100, imagesGranted: 10, bytesGranted: 100 + 800 },
      stripe(1, 90, 90),
    ]);
  });

  it('never lets the grants pass the limits nor a stripe pass its grant, over random uploads and deletes', () => {
    for (let seed = 1; seed <= 50; seed += 1) {
      const next = random(seed);
      let stripes: UsageStripe[] = [];
      let accepted = 0;
      let refused = 0;
      for (let step = 0; step < 400; step += 1) {
        const target = next(usageStripeCount);
        const deleting = next(5) === 0 && accepted > 0;
        const change = deleting ? { images: -1, bytes: -10 } : { images: 1, bytes: 10 + next(200) };
        const current = stripes.find((s) => s.stripe === target);
        const fits =
          current !== undefined &&
          current.images + change.images <= current.imagesGranted &&
          current.bytes + change.bytes <= current.bytesGranted;
        if (deleting || fits) {
          // The fast path (or a give-back): counted on the stripe, grants unchanged.
          stripes = stripes.some((s) => s.stripe === target)
            ? stripes.map((s) =>
                s.stripe === target
                  ? { ...s, images: s.images + change.images, bytes: s.bytes + change.bytes }
                  : s,
              )
            : [
                ...stripes,
                {
                  stripe: target,
                  images: change.images,
                  bytes: change.bytes,
                  imagesGranted: 0,
                  bytesGranted: 0,
                },
              ];
          accepted += change.images;
        } else {
          const wouldBe = {
            images: total(stripes, 'images') + 1,
            bytes: total(stripes, 'bytes') + change.bytes,
          };
          const plan = planGrant(stripes, target, change, limits, headroom);
          if (plan === 'limit') {
            assert.ok(wouldBe.images > limits.maxImages || wouldBe.bytes > limits.maxBytes, `seed ${seed}`);
            refused += 1;
            continue;
          }
          stripes = plan;
          accepted += 1;
        }
        assert.equal(total(stripes, 'images'), accepted, `seed ${seed}: the total is exact`);
        assert.ok(total(stripes, 'images') <= limits.maxImages && total(stripes, 'bytes') <= limits.maxBytes);
        assert.ok(
          total(stripes, 'imagesGranted') <= limits.maxImages,
          `seed ${seed}: image grants within the limit`,
        );
        assert.ok(
          total(stripes, 'bytesGranted') <= limits.maxBytes,
          `seed ${seed}: byte grants within the limit`,
        );
        for (const s of stripes) assert.ok(s.images <= s.imagesGranted && s.bytes <= s.bytesGranted);
      }
      assert.ok(refused > 0 && accepted > 0, `seed ${seed}: the run reached a limit`);
    }
  });
});
