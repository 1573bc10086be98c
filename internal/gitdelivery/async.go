package gitdelivery

import (
	"context"
	"time"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/outcome"
)

// DefaultQueuedPoll is how soon a Promotion whose delivery is in flight is
// looked at again if the notice that its push landed were lost.
const DefaultQueuedPoll = 30 * time.Second

var _ delivery.Async = (*Deliverer)(nil)

// Submit queues req for the next group commit and returns at once with an
// *outcome.Waiting (DeliveryQueued); Notify is called when its push lands
// or it failed, and the next Submit returns the outcome. A Submit after a
// restart, or after the outcome was handed out once, queues the delivery
// again, and the batch finds the Promotion's commit by its trailer instead
// of committing twice.
func (d *Deliverer) Submit(ctx context.Context, req delivery.Request) (delivery.Record, bool, error) {
	uid := req.Promotion.UID
	if v, ok := d.inflight.Load(uid); ok {
		j := v.(*job)
		select {
		case <-j.done:
			d.inflight.CompareAndDelete(uid, j)
			return j.rec, j.found, j.err
		default:
			return delivery.Record{}, false, queued(j)
		}
	}
	j, err := d.submit(ctx, req)
	if err != nil {
		return delivery.Record{}, false, err
	}
	d.inflight.Store(uid, j)
	go func() {
		<-j.done
		if d.Notify != nil {
			d.Notify(req.Promotion)
		}
	}()
	return delivery.Record{}, false, queued(j)
}

func queued(j *job) error {
	return outcome.Wait(DefaultQueuedPoll, batonv1alpha1.DeliveryQueuedReason,
		"The commit of %s to branch %q is queued for the next push, or being pushed", j.s.req.Image, j.s.branch)
}
