// mmdbgen writes small MaxMind DB (.mmdb) files for Nagare's GeoIP tests with
// MaxMind's own writer (github.com/maxmind/mmdbwriter), so the reader
// (mmdb-lib) is tested against files laid out exactly as GeoLite2 / IPinfo
// ship them, not against a hand-rolled encoder.
//
// Usage: mmdbgen spec.json out.mmdb
//
// spec.json:
//
//	{
//	  "databaseType": "GeoLite2-Country" | "GeoLite2-ASN" | "ipinfo country_asn" | …,
//	  "ipVersion": 6,                      // 4 or 6 (6 also holds IPv4 under ::/96)
//	  "recordSize": 24,                    // 24, 28 or 32
//	  "networks": [ { "prefix": "203.0.113.0/24", "data": { …any JSON… } } ]
//	}
//
// JSON numbers that are whole become uint32 (as GeoLite2's geoname_id and
// autonomous_system_number), other numbers float64; maps, arrays, strings and
// booleans map to their MaxMind DB types.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

type spec struct {
	DatabaseType string `json:"databaseType"`
	IPVersion    int    `json:"ipVersion"`
	RecordSize   int    `json:"recordSize"`
	Networks     []struct {
		Prefix string          `json:"prefix"`
		Data   json.RawMessage `json:"data"`
	} `json:"networks"`
}

func toType(v any) (mmdbtype.DataType, error) {
	switch x := v.(type) {
	case nil:
		return nil, fmt.Errorf("null is not a MaxMind DB value")
	case bool:
		return mmdbtype.Bool(x), nil
	case string:
		return mmdbtype.String(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil && i >= 0 && i <= math.MaxUint32 {
			return mmdbtype.Uint32(uint32(i)), nil
		}
		if i, err := x.Int64(); err == nil {
			return mmdbtype.Int32(int32(i)), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return mmdbtype.Float64(f), nil
	case []any:
		out := make(mmdbtype.Slice, 0, len(x))
		for _, e := range x {
			t, err := toType(e)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	case map[string]any:
		out := mmdbtype.Map{}
		for k, e := range x {
			t, err := toType(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[mmdbtype.String(k)] = t
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported JSON value %T", v)
}

func run(specPath, outPath string) error {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: %w", specPath, err)
	}
	if s.IPVersion == 0 {
		s.IPVersion = 6
	}
	if s.RecordSize == 0 {
		s.RecordSize = 24
	}
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: s.DatabaseType,
		IPVersion:    s.IPVersion,
		RecordSize:   s.RecordSize,
		Description:  map[string]string{"en": "Nagare test database"},
		// Test prefixes come from documentation ranges (RFC 5737 / 3849), which
		// are reserved: without these the writer refuses to insert them.
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     true,
	})
	if err != nil {
		return err
	}
	for i, n := range s.Networks {
		_, ipnet, err := net.ParseCIDR(n.Prefix)
		if err != nil {
			return fmt.Errorf("networks[%d]: %w", i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(n.Data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("networks[%d].data: %w", i, err)
		}
		t, err := toType(v)
		if err != nil {
			return fmt.Errorf("networks[%d].data: %w", i, err)
		}
		if err := w.Insert(ipnet, t); err != nil {
			return fmt.Errorf("networks[%d]: %w", i, err)
		}
	}
	f, err := os.Create(outPath)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mmdbgen spec.json out.mmdb")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "mmdbgen:", err)
		os.Exit(1)
	}
}
