package proxy

// ParkedClients returns how many of s's clients wait without a reader
// goroutine.
func ParkedClients(s *Server) int { return s.poller.Armed() }
