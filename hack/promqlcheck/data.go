package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// hasData asks the Prometheus at address whether expr finds data: each of
// its series selectors must match at least one series, and, unless expr is
// a filter, expr itself must return a sample.
func hasData(address string, expr parser.Expr) error {
	client, err := api.NewClient(api.Config{Address: address})
	if err != nil {
		return err
	}
	prom := promv1.NewAPI(client)
	for _, matchers := range parser.ExtractSelectors(expr) {
		sel := selector(matchers)
		v, err := query(prom, "count(last_over_time("+sel+"[1h]))")
		if err != nil {
			return err
		}
		if len(v) == 0 || v[0].Value == 0 {
			return fmt.Errorf("no series matches %s", sel)
		}
	}
	if isFilter(expr) {
		return nil
	}
	v, err := query(prom, expr.String())
	if err != nil {
		return err
	}
	if len(v) == 0 {
		return fmt.Errorf("returns no sample")
	}
	return nil
}

// isFilter reports whether expr is a comparison without bool: it returns
// the series that cross a threshold, and none while all is well.
func isFilter(expr parser.Expr) bool {
	for {
		p, ok := expr.(*parser.ParenExpr)
		if !ok {
			break
		}
		expr = p.Expr
	}
	b, ok := expr.(*parser.BinaryExpr)
	return ok && b.Op.IsComparisonOperator() && !b.ReturnBool
}

// selector writes matchers back as a series selector.
func selector(matchers []*labels.Matcher) string {
	s := "{"
	for i, m := range matchers {
		if i > 0 {
			s += ","
		}
		s += m.String()
	}
	return s + "}"
}

// query runs an instant query now; a scalar is one sample.
func query(prom promv1.API, q string) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, _, _, err := prom.Query(ctx, q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	switch v := v.(type) {
	case model.Vector:
		return v, nil
	case *model.Scalar:
		return model.Vector{{Value: v.Value, Timestamp: v.Timestamp}}, nil
	}
	return nil, fmt.Errorf("query %s: unexpected result type %s", q, v.Type())
}
