// Package setupcheck reads what package dnssetup writes, the way a device
// would, for tests: an XML property list into Go values, and a QR code
// image back into its text.
package setupcheck

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/png" // QR codes are PNG
	"io"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Plist decodes an XML property list: a dict becomes map[string]any, an
// array []any, string and date string, integer int64, real float64, true
// and false bool. It fails on anything a property list may not hold,
// such as a dict key without a value or two top-level values.
func Plist(b []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("plist: no <plist> element: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("plist: root <%s>, want <plist>", se.Name.Local)
			}
			break
		}
	}
	se, err := nextStart(d)
	if err != nil {
		return nil, err
	}
	v, err := value(d, se)
	if err != nil {
		return nil, err
	}
	// Only </plist> may follow.
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, errors.New("plist: no </plist>")
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return nil, fmt.Errorf("plist: second top-level value <%s>", t.Name.Local)
		case xml.EndElement:
			return v, nil
		}
	}
}

// nextStart returns the next start element, or an error at an end one.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("plist: unexpected </%s>", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, fmt.Errorf("plist: stray text %q", t)
			}
		}
	}
}

// value decodes the element se starts.
func value(d *xml.Decoder, se xml.StartElement) (any, error) {
	switch se.Name.Local {
	case "dict":
		m := map[string]any{}
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return m, nil
			case xml.StartElement:
				if t.Name.Local != "key" {
					return nil, fmt.Errorf("plist: <%s> where a dict key belongs", t.Name.Local)
				}
				var k string
				if err := d.DecodeElement(&k, &t); err != nil {
					return nil, err
				}
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("plist: key %q twice", k)
				}
				vs, err := nextStart(d)
				if err != nil {
					return nil, fmt.Errorf("plist: key %q: %w", k, err)
				}
				if m[k], err = value(d, vs); err != nil {
					return nil, fmt.Errorf("plist: key %q: %w", k, err)
				}
			}
		}
	case "array":
		a := []any{}
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return a, nil
			case xml.StartElement:
				v, err := value(d, t)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
		}
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, err
		}
		return se.Name.Local == "true", nil
	}
	var text string
	if err := d.DecodeElement(&text, &se); err != nil {
		return nil, err
	}
	switch se.Name.Local {
	case "string", "date", "data":
		return text, nil
	case "integer":
		return strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	case "real":
		return strconv.ParseFloat(strings.TrimSpace(text), 64)
	}
	return nil, fmt.Errorf("plist: unknown element <%s>", se.Name.Local)
}

// QR decodes the QR code in an image file that holds nothing but the
// code, as dnssetup writes it (the pure-code hint: the finder-pattern
// search misses about 1 in 100 of such codes).
func QR(img []byte) (string, error) {
	m, _, err := image.Decode(bytes.NewReader(img))
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(m)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	return res.GetText(), nil
}
