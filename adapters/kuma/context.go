package kuma

import "matrix-notify/adapters/liquidjs"

// Kuma's fixed strings (NotificationProvider.renderTemplate).
const (
	statusDown    = "\U0001f534 Down"
	statusUp      = "\u2705 Up"
	statusTest    = "\u26a0\ufe0f Test"
	noMonitorName = "Monitor Name not available"
	noMonitorAddr = "testing.hostname"
)

// Context is Kuma's template context, the variables renderTemplate gives a
// Liquid template, with the same values:
//
//	status, STATUS                   "🔴 Down" if heartbeat.status is 0 (DOWN), "✅ Up" for
//	                                 any other status, "⚠️ Test" without a heartbeat
//	name, NAME                       monitor.name, "Monitor Name not available" without a monitor
//	hostnameOrURL, HOSTNAME_OR_URL   extractAddress(monitor), "testing.hostname" without one
//	msg                              the notification's message
//	monitorJSON, heartbeatJSON       the objects as sent (key order kept), or null
//
// As in Kuma, name and hostnameOrURL are the monitor's values as they are:
// a member sent as null stays null (liquidjs.Null), an absent one is
// undefined (nil). Liquid prints nothing for either, but they differ in
// the json filter ("null" and "") as in LiquidJS.
func (p Payload) Context() map[string]any {
	status := statusTest
	if p.Heartbeat != nil {
		status = statusUp
		if p.Heartbeat.Status == Down {
			status = statusDown
		}
	}
	var name, addr any = noMonitorName, noMonitorAddr
	if p.Monitor != nil {
		sent := membersAsSent(p.monitorJSON)
		name = sent["name"]
		addr = extractAddress(sent)
	}
	// Kuma passes JSON null for a test notification's objects; in LiquidJS
	// null and a missing variable compare differently, so keep it null.
	var monitorJSON, heartbeatJSON any = liquidjs.Null, liquidjs.Null
	if p.monitorJSON != nil {
		monitorJSON = p.monitorJSON
	}
	if p.heartbeatJSON != nil {
		heartbeatJSON = p.heartbeatJSON
	}
	return map[string]any{
		// Kuma's v1 compatibility keys.
		"STATUS":          status,
		"NAME":            name,
		"HOSTNAME_OR_URL": addr,

		"status":        status,
		"name":          name,
		"hostnameOrURL": addr,
		"monitorJSON":   monitorJSON,
		"heartbeatJSON": heartbeatJSON,
		"msg":           p.Msg,
	}
}

// membersAsSent are o's members as templates see them (null is
// liquidjs.Null), for Kuma's rules on monitorJSON.
func membersAsSent(o *liquidjs.Object) map[string]any {
	m := make(map[string]any, o.Len())
	for _, k := range o.Keys() {
		m[k], _ = o.Get(k)
	}
	return m
}

// HostnameOrURL is Context's hostnameOrURL as text ("" for null).
func (p Payload) HostnameOrURL() string {
	if p.Monitor == nil {
		return noMonitorAddr
	}
	v := extractAddress(p.Monitor.fields)
	if v == nil {
		return ""
	}
	return jsString(v)
}

// KumaVersion is the Uptime Kuma release whose template context (and
// extractAddress) this package follows.
const KumaVersion = "2.5.3"

// extractAddress is NotificationProvider.extractAddress as of KumaVersion:
// the address a monitor watches, by monitor type. m's null members are nil
// (fields) or liquidjs.Null (membersAsSent); the result keeps which. Since
// Kuma 2.5.0 a DNS monitor's address is its hostname alone (its port is the
// resolver's, not the watched host's); before, "hostname:53".
func extractAddress(m map[string]any) any {
	typ, _ := m["type"].(string) // JavaScript's switch compares with ===
	switch typ {
	case "push":
		return "Heartbeat"
	case "ping", "dns":
		return m["hostname"]
	case "port", "gamedig", "steam":
		if jsTruthy(m["port"]) {
			return jsString(m["hostname"]) + ":" + jsString(m["port"])
		}
		return m["hostname"]
	case "globalping":
		sub, _ := m["subtype"].(string)
		switch sub {
		case "ping", "dns":
			return m["hostname"]
		case "http":
			return m["url"]
		}
		return ""
	}
	url := m["url"]
	if s, ok := url.(string); ok && (s == "https://" || s == "http://" || s == "") {
		return ""
	}
	return url
}
