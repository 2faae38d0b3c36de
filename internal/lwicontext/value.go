package lwicontext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// value is a checked context value in its canonical text form: the string
// itself, a number in plain decimal, or "true"/"false".
type value struct {
	text string
	set  bool
}

// fromJSON reads a value that arrived as JSON (the request body or a static
// value in the schema) and checks it against the variable.
func (v *Variable) fromJSON(raw json.RawMessage) (value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return value{}, errors.New("is empty")
	}
	var text string
	switch c := raw[0]; {
	case c == '"':
		if v.Type != TypeText {
			return value{}, fmt.Errorf("must be a %s, not a string", v.Type)
		}
		if err := json.Unmarshal(raw, &text); err != nil {
			return value{}, errors.New("is not a valid JSON string")
		}
		// A browser-chosen control character has no business in what an
		// agent reads, and a NUL or an escape sequence can confuse the
		// systems the context is copied into.
		if v.Source == SourceRequest && strings.ContainsFunc(text, isControl) {
			return value{}, errors.New("contains a control character (U+0000 to U+001F or U+007F)")
		}
	case c == 't' || c == 'f':
		if v.Type != TypeBoolean {
			return value{}, fmt.Errorf("must be a %s, not a boolean", describeType(v.Type))
		}
		text = string(raw)
	case c == '-' || (c >= '0' && c <= '9'):
		if v.Type != TypeNumber {
			return value{}, fmt.Errorf("must be a %s, not a number", describeType(v.Type))
		}
		n, err := plainDecimal(string(raw), v.MaxLength)
		if err != nil {
			return value{}, err
		}
		text = n
	case c == 'n':
		return value{}, errors.New("must not be null (leave the variable out instead)")
	case c == '{':
		// Someone who read Microsoft's docs may send the displayable form
		// itself; whether the agent sees a value is the schema's decision.
		return value{}, errors.New(`must be a string, number or boolean, not an object or array (for a variable the schema marks "display": true, the service writes {"value": ..., "isDisplayable": true} itself)`)
	default:
		return value{}, errors.New("must be a string, number or boolean, not an object or array")
	}
	return v.check(text)
}

// fromDocument reads a value from the session document.
func (v *Variable) fromDocument(x any) (value, error) {
	var text string
	switch x := x.(type) {
	case string:
		if v.Type != TypeText {
			return value{}, fmt.Errorf("must be a %s, not a string", v.Type)
		}
		text = x
	case bool:
		if v.Type != TypeBoolean {
			return value{}, fmt.Errorf("must be a %s, not a boolean", describeType(v.Type))
		}
		text = strconv.FormatBool(x)
	case json.Number:
		if v.Type != TypeNumber {
			return value{}, fmt.Errorf("must be a %s, not a number", describeType(v.Type))
		}
		n, err := plainDecimal(string(x), v.MaxLength)
		if err != nil {
			return value{}, err
		}
		text = n
	default:
		return value{}, errors.New("must be a string, number or boolean, not an object or array")
	}
	return v.check(text)
}

// isControl reports the C0 controls and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func describeType(t string) string {
	if t == TypeText {
		return "text (a JSON string)"
	}
	return t
}

// check applies the variable's length, enum and pattern rules to a value in
// canonical text form.
func (v *Variable) check(text string) (value, error) {
	if n := utf8.RuneCountInString(text); n > v.MaxLength {
		return value{}, fmt.Errorf("is %d characters long; at most %d are allowed", n, v.MaxLength)
	}
	if !utf8.ValidString(text) {
		return value{}, errors.New("is not valid UTF-8")
	}
	if v.Enum != nil && !v.Enum[text] {
		return value{}, errors.New("is not one of the allowed values")
	}
	if v.Pattern != nil && !v.Pattern.MatchString(text) {
		return value{}, errors.New("does not match the variable's pattern")
	}
	return value{text: text, set: true}, nil
}

// maxExponentDigits bounds the exponent parsed from a number; anything
// larger cannot print within MaxValueLength anyway.
const maxExponentDigits = 6

// plainDecimal rewrites a JSON number in plain decimal notation (never
// exponent form): "1e4" is "10000", "1.50" is "1.5", "-0" is "0". A number
// whose plain form would be longer than maxLen is refused before any long
// string is built.
func plainDecimal(num string, maxLen int) (string, error) {
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	mantissa, expText, hasExp := strings.Cut(strings.ToLower(num), "e")
	intPart, frac, hasPoint := strings.Cut(mantissa, ".")
	if !allDigits(intPart) || (hasPoint && !allDigits(frac)) {
		return "", errors.New("is not a valid number")
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	// point is where the decimal point falls within digits.
	point := len(intPart) - (len(intPart+frac) - len(digits))
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0", nil
	}
	if hasExp {
		sign := 1
		if rest, ok := strings.CutPrefix(expText, "-"); ok {
			sign, expText = -1, rest
		} else {
			expText = strings.TrimPrefix(expText, "+")
		}
		if !allDigits(expText) {
			return "", errors.New("is not a valid number")
		}
		if len(expText) > maxExponentDigits {
			return "", fmt.Errorf("is too large or too precise to print in at most %d characters", maxLen)
		}
		e, _ := strconv.Atoi(expText)
		point += sign * e
	}

	var length int
	switch {
	case point <= 0:
		length = len("0.") - point + len(digits)
	case point >= len(digits):
		length = point
	default:
		length = len(digits) + 1
	}
	if neg {
		length++
	}
	if length > maxLen {
		return "", fmt.Errorf("is %d characters long in plain decimal; at most %d are allowed", length, maxLen)
	}

	var b strings.Builder
	b.Grow(length)
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return b.String(), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
