package delivery

import (
	"context"
	"fmt"

	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/workload"
)

// DefaultFieldManager is the server-side apply field manager Baton applies
// with unless the Environment names another.
const DefaultFieldManager = workload.DefaultFieldManager

// Direct delivers by server-side applying only the image of the named
// container, through the workload Accessor.
type Direct struct {
	// Workloads reads and changes the Environment's workload.
	Workloads workload.Accessor
}

var _ Deliverer = (*Direct)(nil)

// Delivered reports whether the workload already runs req.Image: by digest
// when both references carry one, so that the same digest under another tag
// is not delivered again. It reads the workload uncached.
func (d *Direct) Delivered(ctx context.Context, req Request) (Record, bool, error) {
	w, err := d.Workloads.GetUncached(ctx, req.Environment)
	if err != nil {
		return Record{}, false, err
	}
	if !image.Same(w.Image, "", req.Image, "") {
		return Record{}, false, nil
	}
	return Record{Patch: describePatch(req)}, true, nil
}

// Deliver applies the new image; the Accessor refuses, changing nothing,
// when another field manager owns the image field.
func (d *Direct) Deliver(ctx context.Context, req Request) (Record, error) {
	if _, err := d.Workloads.ApplyImage(ctx, req.Environment, req.Image); err != nil {
		return Record{}, err
	}
	return Record{Patch: describePatch(req)}, nil
}

func describePatch(req Request) string {
	env := req.Environment
	return fmt.Sprintf("server-side apply by %s: %s %s container %s image=%s",
		workload.FieldManager(env), env.Spec.Workload.Kind, workload.Key(env), env.Spec.Workload.Container, req.Image)
}
