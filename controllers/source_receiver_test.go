package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/source"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// Class 10 of issue 18, the receiver half: a caller without the secret
// learns nothing about which Environments exist, and cannot spend an
// Environment's rate limit.
var _ = Describe("The hook receiver, to a caller without the secret", Ordered, func() {
	var (
		ctx   = context.Background()
		ns    string
		hooks *httptest.Server
	)
	const floor = 300 * time.Millisecond
	BeforeAll(func() {
		ns = newNamespace(ctx)
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-hook"},
			StringData: map[string]string{source.WebhookTokenKey: hookSecret},
		})).To(Succeed())
		withSource := func(name, secret string) {
			e := builder.Environment(ns, name).Deployment("web", "web").Direct().Build()
			e.Spec.Source = &batonv1alpha1.Source{Image: "registry.example.com/web:{{.ShortSHA}}",
				Git: batonv1alpha1.GitSource{URL: "https://git.example.com/web.git", Interval: &metav1.Duration{Duration: time.Hour}}}
			if secret != "" {
				e.Spec.Source.Git.WebhookSecretRef = &batonv1alpha1.LocalObjectReference{Name: secret}
			}
			Expect(k8sClient.Create(ctx, e)).To(Succeed())
		}
		withSource("staging", "app-hook")
		withSource("no-hooks", "")
		withSource("no-secret", "missing")
		srv := httptest.NewServer(&source.Receiver{Reader: k8sClient, Client: k8sClient, Log: GinkgoLogr, RefusalFloor: floor})
		DeferCleanup(srv.Close)
		hooks = srv
	})

	// refused posts a hook and checks the one uniform refusal, and that it
	// took at least the floor: an unknown Environment is not answered
	// sooner than a known one.
	refused := func(path, secret string) {
		GinkgoHelper()
		start := time.Now()
		code, answer := postHook(hooks.URL+path, pushPayload("refs/heads/main", "0123456789abcdef0123456789abcdef01234567"), secret)
		took := time.Since(start)
		Expect(code).To(Equal(http.StatusUnauthorized), answer)
		Expect(answer).To(Equal(source.Refused))
		Expect(took).To(BeNumerically(">=", floor))
	}

	DescribeTable("answers every unauthenticated hook alike",
		func(path func() string, secret string) { refused(path(), secret) },
		Entry("a bad signature for an Environment that exists", func() string { return "/hooks/" + ns + "/staging" }, "not-the-secret"),
		Entry("an Environment that does not exist", func() string { return "/hooks/" + ns + "/nope" }, "not-the-secret"),
		Entry("the right secret for an Environment that does not exist", func() string { return "/hooks/" + ns + "/nope" }, hookSecret),
		Entry("a namespace that does not exist", func() string { return "/hooks/no-such-ns/staging" }, hookSecret),
		Entry("an Environment without webhookSecretRef", func() string { return "/hooks/" + ns + "/no-hooks" }, hookSecret),
		Entry("an Environment whose webhook Secret is missing", func() string { return "/hooks/" + ns + "/no-secret" }, hookSecret),
		Entry("a path that cannot name an Environment", func() string { return "/hooks/" + ns + "/Not_A_Name" }, hookSecret),
	)

	It("spends the Environment's rate limit only on hooks that authenticate", func() {
		// Twice the per-Environment burst of unauthenticated hooks...
		for range 2 * source.DefaultPerEnvBurst {
			refused("/hooks/"+ns+"/staging", "not-the-secret")
		}
		// ...and the forge's signed hook still gets through, and is acted on.
		code, answer := postHook(hooks.URL+"/hooks/"+ns+"/staging", pushPayload("refs/heads/main", "0123456789abcdef0123456789abcdef01234567"), hookSecret)
		Expect(code).To(Equal(http.StatusAccepted), answer)
		Expect(answer).To(HavePrefix("accepted:"))
		e := &batonv1alpha1.Environment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "staging"}, e)).To(Succeed())
		Expect(e.Annotations).To(HaveKey(batonv1alpha1.SourceRequestedAtAnnotation))
	})
})
