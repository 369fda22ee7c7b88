package proxy

// ParkedClients returns how many readers of s's clients (client side and
// upstream side) wait without a goroutine.
func ParkedClients(s *Server) int { return s.poller.Armed() }
