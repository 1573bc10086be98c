package identity_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/testenv"
)

// forgedReview is the AdmissionReview an attacker who reaches the webhook
// port would post: mallory claims to be bob and asks for a marker.
func forgedReview(ns string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
		"uid":"00000000-0000-0000-0000-000000000001","operation":"CREATE","namespace":%q,"name":"forged",
		"kind":{"group":"promotion.baton.dev","version":"v1alpha1","kind":"Promotion"},
		"resource":{"group":"promotion.baton.dev","version":"v1alpha1","resource":"promotions"},
		"userInfo":{"username":"bob","groups":["system:authenticated"]},
		"object":{"apiVersion":"promotion.baton.dev/v1alpha1","kind":"Promotion","metadata":{"name":"forged","namespace":%q},
		"spec":{"environment":"production","image":"registry.example.com/web:evil"}}}}`, ns, ns)
}

// postReview posts body to the mutating webhook with the client
// certificate given (none when nil) and returns the response body.
func postReview(client *certs.KeyPair, body []byte) (string, error) {
	return testenv.PostAdmissionReview("https://"+testEnv.WebhookAddr+identity.MutatePath, nil, client, body)
}

var _ = Describe("The webhook's caller", func() {
	It("is the API server: its own admissions keep working", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newEnvironment(ctx, ns, 1)
		Expect(users["alice"].Create(ctx, aliceManifest(ns, "p"))).To(Succeed())
		Expect(identity.Verify(get(ctx, ns, "p"), key(ctx))).To(Succeed())
	})

	DescribeTable("anyone else is refused during the TLS handshake, before a marker is signed",
		func(ctx context.Context, client func() *certs.KeyPair) {
			out, err := postReview(client(), forgedReview("identity-forged"))
			Expect(err).To(HaveOccurred(), "the webhook answered: %s", out)
			Expect(out).NotTo(ContainSubstring("patch"))
			Expect(logs.String()).NotTo(ContainSubstring(`"promotion": {"name":"forged"`))
		},
		Entry("without a client certificate", func() *certs.KeyPair { return nil }),
		Entry("with a certificate from another CA, under the API server's name", func() *certs.KeyPair {
			ca, err := certs.NewCA("mallory-ca", time.Hour)
			Expect(err).NotTo(HaveOccurred())
			c, err := certs.NewClientCert(ca, testenv.WebhookClientName, time.Hour)
			Expect(err).NotTo(HaveOccurred())
			return &c
		}),
		Entry("with a certificate from the right CA under another name", func() *certs.KeyPair {
			c, err := certs.NewClientCert(testEnv.WebhookClientCA, "mallory", time.Hour)
			Expect(err).NotTo(HaveOccurred())
			return &c
		}),
	)

	It("answers the API server's certificate, which proves the refusals above are about the caller", func() {
		c := testEnv.APIServerClient
		out, err := postReview(&c, forgedReview("identity-forged"))
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring(`"uid":"00000000-0000-0000-0000-000000000001"`))
	})
})
