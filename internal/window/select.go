package window

import (
	"cmp"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Select is the DeployWindows env's spec.deployWindows picks, by
// name, and what is missing: a named window that does not exist, or a
// selector that matches none (a message naming the field; "" when
// nothing is missing).
func Select(env *batonv1alpha1.Environment, windows []batonv1alpha1.DeployWindow) ([]batonv1alpha1.DeployWindow, string) {
	sel := env.Spec.DeployWindows
	if sel == nil {
		return nil, ""
	}
	windows = slices.SortedFunc(slices.Values(windows), func(a, b batonv1alpha1.DeployWindow) int { return cmp.Compare(a.Name, b.Name) })
	var out []batonv1alpha1.DeployWindow
	for i, name := range sel.Names {
		j := slices.IndexFunc(windows, func(w batonv1alpha1.DeployWindow) bool { return w.Name == name })
		if j < 0 {
			return nil, fmt.Sprintf("spec.deployWindows.names[%d]: DeployWindow %q does not exist in namespace %s; create it, or remove it from the list of Environment %q",
				i, name, env.Namespace, env.Name)
		}
		out = append(out, windows[j])
	}
	if sel.Selector == nil {
		return out, ""
	}
	selector, err := metav1.LabelSelectorAsSelector(sel.Selector)
	if err != nil {
		return nil, fmt.Sprintf("spec.deployWindows.selector: %v", err)
	}
	matched := 0
	for _, w := range windows {
		if selector.Matches(labels.Set(w.Labels)) {
			matched++
			if !slices.ContainsFunc(out, func(o batonv1alpha1.DeployWindow) bool { return o.Name == w.Name }) {
				out = append(out, w)
			}
		}
	}
	if matched == 0 {
		return nil, fmt.Sprintf("spec.deployWindows.selector %q matches no DeployWindow in namespace %s; label one, or fix the selector of Environment %q",
			selector.String(), env.Namespace, env.Name)
	}
	return out, ""
}
