package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

// Delivered reports whether every workload already runs req.Image: by
// digest when both references carry one, so that the same digest under
// another tag is not delivered again. It reads the workloads uncached.
func (d *Direct) Delivered(ctx context.Context, req Request) (Record, bool, error) {
	set, err := d.Workloads.GetUncached(ctx, req.Environment)
	if err != nil {
		return Record{}, false, err
	}
	for _, w := range set {
		if !workload.Runs(w, req.Image) {
			return Record{}, false, nil
		}
	}
	return Record{Patch: describePatch(req, set.Names())}, true, nil
}

// Deliver applies the new image to every workload; the Accessor refuses,
// changing nothing, when another field manager owns an image field.
func (d *Direct) Deliver(ctx context.Context, req Request) (Record, error) {
	changed, err := d.Workloads.ApplyImage(ctx, req.Environment, req.Image)
	if err != nil {
		return Record{}, err
	}
	return Record{Patch: describePatch(req, changed)}, nil
}

// describePatch says what was applied, naming each workload changed.
func describePatch(req Request, workloads []string) string {
	env := req.Environment
	var what []string
	for _, ref := range env.WorkloadRefs() {
		name := workload.RefName(ref.Kind, workload.Key(env, ref))
		if !slices.Contains(workloads, name) {
			continue
		}
		what = append(what, fmt.Sprintf("%s %s container %s", ref.Kind, workload.Key(env, ref), strings.Join(ref.ContainerNames(), ",")))
	}
	if len(what) == 0 {
		what = append(what, "no workload (all already ran it)")
	}
	return fmt.Sprintf("server-side apply by %s: %s image=%s", workload.FieldManager(env), strings.Join(what, "; "), req.Image)
}
