package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// age is kubectl's rendering of how long ago t was.
func age(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func (o *Options) printer(format string) printers.ResourcePrinter {
	var p printers.ResourcePrinter = &printers.YAMLPrinter{}
	if format == "json" {
		p = &printers.JSONPrinter{}
	}
	return printers.NewTypeSetter(o.scheme).ToPrinter(p)
}

// printObject prints one object as json or yaml, with its apiVersion and
// kind, as kubectl get -o does.
func (o *Options) printObject(obj runtime.Object, format string) error {
	return o.printer(format).PrintObj(obj, o.Out)
}

// printList prints objects as one v1 List, as kubectl get of several kinds
// does.
func (o *Options) printList(objs []runtime.Object, format string) error {
	list := &corev1.List{}
	for _, obj := range objs {
		obj = obj.DeepCopyObject()
		gvk, err := apiutil.GVKForObject(obj, o.scheme)
		if err != nil {
			return fmt.Errorf("print %T: %w", obj, err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	return o.printObject(list, format)
}

// printData prints what is not an API object (history entries) as json or
// yaml.
func printData(out io.Writer, v any, format string) error {
	var data []byte
	var err error
	if format == "json" {
		data, err = json.MarshalIndent(v, "", "    ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode as %s: %w", format, err)
	}
	_, err = out.Write(data)
	return err
}
