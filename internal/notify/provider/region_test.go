package provider_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/notify/provider"
)

// regionJob is jobFor for a check probed from three regions with quorum
// 2, two of which saw it DOWN.
func regionJob(c notify.Channel, from, to check.State) *notify.Job {
	j := jobFor(c, from, to)
	j.Transition.Region = "us-east"
	j.Transition.Regions = map[string]check.State{"us-east": check.StateDown, "eu-west": check.StateDown,
		"ap-south": check.StateUp}
	j.Quorum = 2
	return j
}

const regionsText = "DOWN in eu-west, us-east; UP in ap-south; 2 of 3 DOWN, quorum 2"

func TestRegionsSaysWhichRegionSawWhat(t *testing.T) {
	require.Empty(t, provider.Regions(jobFor(notify.Channel{}, check.StateUp, check.StateDown)), "a check without regions")
	require.Equal(t, regionsText, provider.Regions(regionJob(notify.Channel{}, check.StateUp, check.StateDown)))

	j := regionJob(notify.Channel{}, check.StateDown, check.StateUp)
	j.Transition.Regions = map[string]check.State{"us-east": check.StateUp, "eu-west": check.StateUnknown, "ap-south": check.StateUp}
	j.Quorum = 0 // the check's regions were taken off before the message went out
	require.Equal(t, "UP in ap-south, us-east; UNKNOWN in eu-west; 0 of 3 DOWN", provider.Regions(j))
	require.Equal(t, "payments is UP (was DOWN) [UP in ap-south, us-east; UNKNOWN in eu-west; 0 of 3 DOWN]", provider.Summary(j))
}

func TestWebhookCarriesTheRegionsSigned(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent, "")
	c := notify.Channel{ID: "c", Type: notify.TypeWebhook, URL: rc.srv.URL, Secret: "s3cret"}
	require.NoError(t, send(t, regionJob(c, check.StateUp, check.StateDown)).Err)
	req, body := <-rc.req, <-rc.bodies
	require.Equal(t, provider.Sign("s3cret", body), req.Header.Get(provider.HeaderSignature), "the signature covers the regions")
	var ev map[string]any
	require.NoError(t, json.Unmarshal(body, &ev))
	require.Equal(t, map[string]any{"us-east": "DOWN", "eu-west": "DOWN", "ap-south": "UP"}, ev["regions"])
	require.Equal(t, "DOWN", ev["to"])

	// Without regions the body has no regions key at all.
	require.NoError(t, send(t, jobFor(c, check.StateUp, check.StateDown)).Err)
	<-rc.req
	require.NotContains(t, string(<-rc.bodies), `"regions"`)
}

func TestTextMessagesSayWhichRegionSawWhat(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "ok")
	require.NoError(t, send(t, regionJob(notify.Channel{Type: notify.TypeSlack, URL: rc.srv.URL}, check.StateUp, check.StateDown)).Err)
	<-rc.req
	var msg map[string]string
	require.NoError(t, json.Unmarshal(<-rc.bodies, &msg))
	require.Contains(t, msg["text"], "payments is DOWN (was UP) ["+regionsText+"]: timeout after 2s")

	c := notify.Channel{Type: notify.TypePagerDuty, URL: rc.srv.URL, Secret: "R0UTING"}
	require.NoError(t, send(t, regionJob(c, check.StateUp, check.StateDown)).Err)
	<-rc.req
	var trig map[string]any
	require.NoError(t, json.Unmarshal(<-rc.bodies, &trig))
	p := trig["payload"].(map[string]any)
	require.Equal(t, "payments is DOWN (was UP) ["+regionsText+"]: timeout after 2s", p["summary"])
	details := p["custom_details"].(map[string]any)
	require.Equal(t, map[string]any{"us-east": "DOWN", "eu-west": "DOWN", "ap-south": "UP"}, details["regions"])
	require.Equal(t, float64(2), details["quorum"])

	require.NoError(t, send(t, regionJob(notify.Channel{Type: notify.TypeAlertmanager, URL: rc.srv.URL}, check.StateUp, check.StateDown)).Err)
	<-rc.req
	var alerts []map[string]any
	require.NoError(t, json.Unmarshal(<-rc.bodies, &alerts))
	require.Equal(t, regionsText, alerts[0]["annotations"].(map[string]any)["regions"])

	// Checks without regions read as before.
	require.NoError(t, send(t, jobFor(notify.Channel{Type: notify.TypeAlertmanager, URL: rc.srv.URL}, check.StateUp, check.StateDown)).Err)
	<-rc.req
	require.NoError(t, json.Unmarshal(<-rc.bodies, &alerts))
	require.NotContains(t, alerts[0]["annotations"], "regions")
}

func TestEmailSaysWhichRegionSawWhat(t *testing.T) {
	addr, pool, got := smtpServer(t, true)
	c := notify.Channel{Type: notify.TypeEmail, URL: "smtp://" + addr + "?from=vigil@example.com", To: []string{"ops@example.com"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := (&provider.Sender{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}).Send(ctx, regionJob(c, check.StateUp, check.StateDown))
	require.NoError(t, a.Err)
	m := <-got
	require.Contains(t, m.data, "\nregions:  "+regionsText+"\n")
	var subject string
	for l := range strings.SplitSeq(m.data, "\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject = s
		}
	}
	dec, err := new(mime.WordDecoder).DecodeHeader(subject)
	require.NoError(t, err)
	require.Equal(t, "[vigil] payments is DOWN (was UP) ["+regionsText+"]: timeout after 2s", dec)
}
