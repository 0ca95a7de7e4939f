package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
)

// optionColumns are the probe options of migration 0005, in the order
// optionDest expects them. They are part of probeColumns: a job carries
// them to the worker.
//
// The regions and quorum of migration 0012 ride along: the scheduler
// needs them to fan a tick out, and they are saved with the options.
const optionColumns = `s.conditions, s.expected_statuses, s.request_headers, s.request_body,
	s.tls_insecure_skip_verify, s.tls_server_name, s.tls_ca_pem, s.regions, s.quorum`

func optionDest(c *check.Check) []any {
	return []any{&c.Conditions, &c.ExpectedStatuses, &c.Headers, &c.Body,
		&c.TLS.InsecureSkipVerify, &c.TLS.ServerName, &c.TLS.CAPEM, &c.Regions, &c.Quorum}
}

// decodeOptions turns the empty arrays a row holds into the nil a check
// without options has, so a scanned check equals the registered one.
func decodeOptions(c *check.Check) {
	if len(c.Conditions) == 0 {
		c.Conditions = nil
	}
	if len(c.ExpectedStatuses) == 0 {
		c.ExpectedStatuses = nil
	}
	if len(c.Headers) == 0 {
		c.Headers = nil
	}
	if len(c.Regions) == 0 {
		c.Regions = nil
	}
}

// saveOptions writes c's probe options. CreateService and saveCheck call
// it in their transactions, after the row's other fields.
func saveOptions(ctx context.Context, tx pgx.Tx, c *check.Check) error {
	headers := c.Headers
	if headers == nil {
		headers = []check.Header{}
	}
	_, err := tx.Exec(ctx, `UPDATE services SET conditions = $2, expected_statuses = $3,
		request_headers = $4, request_body = $5, tls_insecure_skip_verify = $6, tls_server_name = $7,
		tls_ca_pem = $8, regions = $9, quorum = $10
		WHERE id = $1`,
		c.ID, nonNil(c.Conditions), nonNil(c.ExpectedStatuses), headers, c.Body,
		c.TLS.InsecureSkipVerify, c.TLS.ServerName, c.TLS.CAPEM, nonNil(c.Regions), c.Quorum)
	if err != nil {
		return fmt.Errorf("save probe options of %s: %w", c.ID, err)
	}
	return nil
}
