import { formatMoney } from '@p2pvps/protocol/money';
import type { DisputeFacts, Review } from '@p2pvps/protocol/review-schemas';
import type { Listing, Rental } from '@p2pvps/protocol/schemas';
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { disputeOutcomeText, feedbackChoices, formatBytes, ratingSummaryText, starsText } from '../logic.ts';
import { DataTable, ErrorText, Field, FormError, moneyValue, submitWith, Time, useAction, useLoad } from '../ui.tsx';

/**
 * Ratings and disputes in the dashboard: a listing's ratings in the marketplace, rating and
 * disputing a rental from its card, and the operator's queue of open disputes.
 */

function ReviewItem({ review: r, children }: { review: Review; children?: ComponentChildren }) {
  return (
    <li class="review">
      <p>
        <span class="stars" aria-label={`${r.stars} of 5 stars`}>
          {starsText(r.stars)}
        </span>{' '}
        <Time iso={r.createdAt} />{' '}
        {r.refunded && <span class="badge down">{r.refunded === 'full' ? 'refunded in full' : 'partly refunded'}</span>}
      </p>
      {r.comment && <p class="comment">{r.comment}</p>}
      {r.answer !== null && (
        <p class="answer">
          <strong>Owner’s answer:</strong> {r.answer}
        </p>
      )}
      {children}
    </li>
  );
}

/** The listing's rating, and on request its newest ratings with their owner's answers. */
export function ListingRating({ listing }: { listing: Listing }) {
  const { api } = useSession();
  const [open, setOpen] = useState(false);
  return (
    <>
      <dt>Rating</dt>
      <dd>
        {ratingSummaryText(listing.rating)}{' '}
        {listing.rating.count > 0 && (
          <button type="button" class="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? 'Hide ratings' : 'Read ratings'}
          </button>
        )}
        {open && <DeviceRatings load={() => api.call('deviceReviews', { params: { deviceId: listing.deviceId } })} />}
      </dd>
    </>
  );
}

function DeviceRatings({ load }: { load: () => Promise<{ reviews: Review[] }> }) {
  const page = useLoad(load, []);
  return (
    <>
      <ErrorText problem={page.problem} />
      <ul class="reviews" aria-label="Ratings">
        {page.data?.reviews.map((r) => (
          <ReviewItem key={r.id} review={r} />
        ))}
      </ul>
    </>
  );
}

/** On a rental's card: the renter's rating and dispute, or the forms to make them. */
export function RentalFeedback({ rental: r }: { rental: Rental }) {
  const { api, version } = useSession();
  const feedback = useLoad(() => api.call('rentalFeedback', { params: { rentalId: r.id } }), [version, r.state]);
  const [stars, setStars] = useState('5');
  const [comment, setComment] = useState('');
  const [reporting, setReporting] = useState(false);
  const [reason, setReason] = useState('');
  const rate = useAction(async () => {
    await api.call('rateRental', { params: { rentalId: r.id }, body: { stars: Number(stars), comment } });
    feedback.refresh();
  });
  const dispute = useAction(async () => {
    await api.call('openDispute', { params: { rentalId: r.id }, body: { reason } });
    setReporting(false);
    feedback.refresh();
  });
  if (!feedback.data) return <ErrorText problem={feedback.problem} />;
  const { review, dispute: opened } = feedback.data;
  const choices = feedbackChoices(r, { rated: review !== null, disputed: opened !== null }, new Date());
  return (
    <div class="feedback">
      {review && (
        <p>
          Your rating:{' '}
          <span class="stars" aria-label={`${review.stars} of 5 stars`}>
            {starsText(review.stars)}
          </span>
          {review.answer !== null && <> · the owner answered: {review.answer}</>}
        </p>
      )}
      {choices.canRate && (
        <form class="rate" aria-label={`Rate ${r.deviceName}`} onSubmit={submitWith(rate)}>
          <Field label="Your rating" name="stars" controlId={`stars-${r.id}`} problem={rate.problem}>
            <select id={`stars-${r.id}`} value={stars} onChange={(e) => setStars(e.currentTarget.value)}>
              {[5, 4, 3, 2, 1].map((n) => (
                <option value={String(n)} key={n}>
                  {starsText(n)} ({n})
                </option>
              ))}
            </select>
          </Field>
          <Field label="Comment (optional)" name="comment" controlId={`comment-${r.id}`} problem={rate.problem}>
            <textarea id={`comment-${r.id}`} rows={2} maxLength={500} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
          </Field>
          <FormError problem={rate.problem} />
          <button type="submit" class="secondary" disabled={rate.busy}>
            Rate this rental
          </button>
        </form>
      )}
      {opened && (
        <p>
          Your dispute: {disputeOutcomeText(opened)}
          {opened.note && <> · the operator’s note: {opened.note}</>}
        </p>
      )}
      {choices.canDispute && !reporting && (
        <button type="button" class="secondary" onClick={() => setReporting(true)}>
          Report a problem
        </button>
      )}
      {choices.canDispute && reporting && (
        <form class="dispute" aria-label={`Report a problem with ${r.deviceName}`} onSubmit={submitWith(dispute)}>
          <p>
            The operator sees your report with the rental’s facts (uptime, traffic, its log) and may refund part or all of what you paid.
          </p>
          <Field label="What went wrong" name="reason" controlId={`reason-${r.id}`} problem={dispute.problem}>
            <textarea id={`reason-${r.id}`} rows={3} maxLength={1000} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </Field>
          <FormError problem={dispute.problem} />
          <div class="actions">
            <button type="button" class="secondary" onClick={() => setReporting(false)}>
              Cancel
            </button>
            <button type="submit" disabled={dispute.busy}>
              Send to the operator
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

/** The operator's queue: open disputes with their rentals' facts, each refunded or rejected here. */
export function DisputeQueue() {
  const { api, version } = useSession();
  const open = useLoad(() => api.call('adminDisputes', { query: { state: 'open' } }), [version]);
  return (
    <section aria-labelledby="disputes-title">
      <h2 id="disputes-title">Disputes to decide</h2>
      <ErrorText problem={open.problem} />
      {open.data && open.data.disputes.length === 0 && <p>No dispute is open.</p>}
      <ul class="cards">
        {open.data?.disputes.map((d) => (
          <DisputeCard key={d.id} dispute={d} onDone={open.refresh} />
        ))}
      </ul>
    </section>
  );
}

function DisputeCard({ dispute: d, onDone }: { dispute: DisputeFacts; onDone: () => void }) {
  const { api } = useSession();
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const money = (m: number) => formatMoney(m, d.currency);
  const r = d.rental;
  const refund = useAction(async () => {
    await api.call('adminResolveDispute', {
      params: { disputeId: d.id },
      body: { outcome: 'refund', refundMicros: moneyValue(amount, 'refundMicros'), note },
    });
    onDone();
  });
  const reject = useAction(async () => {
    await api.call('adminResolveDispute', { params: { disputeId: d.id }, body: { outcome: 'reject', note } });
    onDone();
  });
  const problem = refund.problem ?? reject.problem;
  return (
    <li class="card" aria-labelledby={`dispute-${d.id}`}>
      <h3 id={`dispute-${d.id}`}>
        {d.deviceName}: {d.renterEmail}
      </h3>
      <p class="comment">{d.reason}</p>
      <dl>
        <dt>Opened</dt>
        <dd>
          <Time iso={d.openedAt} />
        </dd>
        <dt>Owner</dt>
        <dd>{d.ownerEmail}</dd>
        <dt>Rental</dt>
        <dd>
          {r.state}
          {r.endReason ? ` (${r.endReason.replaceAll('_', ' ')})` : ''}; started <Time iso={r.activatedAt} />, ended{' '}
          <Time iso={r.endedAt} />
        </dd>
        <dt>Paid</dt>
        <dd>
          {money(r.paidMicros)} for {r.billedMinutes} min (fee {money(r.feeMicros)})
        </dd>
        <dt>Uptime</dt>
        <dd>{r.uptimePercent === null ? 'not known' : `${r.uptimePercent}% (${r.offlineMinutes} min offline)`}</dd>
        <dt>Traffic</dt>
        <dd>
          {formatBytes(r.bytesIn)} in, {formatBytes(r.bytesOut)} out
        </dd>
      </dl>
      <DataTable
        caption="The rental’s log"
        columns={['Time', 'Event', 'Detail']}
        rows={d.events}
        keyOf={(_, i) => i}
        cells={(e) => [<Time iso={e.at} />, e.kind.replaceAll('_', ' '), e.detail ?? '']}
      />
      <form class="inline" aria-label={`Decide the dispute about ${d.deviceName}`} onSubmit={submitWith(refund)}>
        <Field
          label={`Refund (${d.currency}, at most ${money(r.paidMicros)})`}
          name="refundMicros"
          inputMode="decimal"
          value={amount}
          onInput={(e) => setAmount(e.currentTarget.value)}
          problem={problem}
        />
        <Field label="Note to the renter" name="note" value={note} onInput={(e) => setNote(e.currentTarget.value)} problem={problem} />
        <button type="submit" disabled={refund.busy}>
          Refund
        </button>
        <button type="button" class="danger" disabled={reject.busy} onClick={() => void reject.run()}>
          Reject
        </button>
      </form>
      <FormError problem={problem} />
    </li>
  );
}

/** On the owner's device card: its ratings, each with a form to answer it once. */
export function OwnerRatings({ deviceId, deviceName }: { deviceId: string; deviceName: string }) {
  const { api, version } = useSession();
  const page = useLoad(() => api.call('deviceReviews', { params: { deviceId } }), [version]);
  if (!page.data || page.data.rating.count === 0) return <ErrorText problem={page.problem} />;
  return (
    <section aria-label={`Ratings of ${deviceName}`}>
      <p>Renters rate it {ratingSummaryText(page.data.rating)}.</p>
      <ul class="reviews">
        {page.data.reviews.map((r) => (
          <ReviewItem key={r.id} review={r}>
            {r.answer === null && <AnswerForm reviewId={r.id} onDone={page.refresh} />}
          </ReviewItem>
        ))}
      </ul>
    </section>
  );
}

function AnswerForm({ reviewId, onDone }: { reviewId: string; onDone: () => void }) {
  const { api } = useSession();
  const [answer, setAnswer] = useState('');
  const send = useAction(async () => {
    await api.call('answerReview', { params: { reviewId }, body: { answer } });
    onDone();
  });
  return (
    <form class="inline" aria-label="Answer this rating" onSubmit={submitWith(send)}>
      <Field
        label="Your answer (once)"
        name="answer"
        maxLength={500}
        value={answer}
        onInput={(e) => setAnswer(e.currentTarget.value)}
        problem={send.problem}
      />
      <button type="submit" class="secondary" disabled={send.busy}>
        Answer
      </button>
      <FormError problem={send.problem} />
    </form>
  );
}
