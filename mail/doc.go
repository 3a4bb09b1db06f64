// Package mail renders safereset's token and confirmation emails and
// delivers them: to an SMTP relay (SMTPSender), as .eml files into a
// directory (DirSender), and from the durable outbox with retries (Worker).
// It is the only importer of github.com/wneessen/go-mail.
//
// Mails are rendered from four templates, token.txt and confirmation.txt
// (text/template) and token.html and confirmation.html (html/template),
// embedded by default and overridable file by file from
// ComposerConfig.TemplateDir; TokenData and ConfirmationData list the
// fields they can use. The reset link is ComposerConfig.ResetURL with
// {token} and {email} QueryEscaped, and nothing else. Both senders write
// multipart/alternative messages whose only headers are From, To,
// Subject, Date, Message-ID and MIME framing: the token is in the body
// alone.
//
// # Caveats
//
//   - Delivery from the outbox is at-least-once. An entry is deleted only
//     after its send succeeded, so a crash (kill -9, power cut) between the
//     relay's "250 OK" and the delete sends that mail again after restart.
//     A clean shutdown finishes the send in flight and deletes its entry
//     before Run returns, so it never causes a duplicate.
//   - The outbox holds each token mail, token included, in the database
//     until it is delivered, dropped or expired. Protect the data directory
//     (and its backups) like the tokens themselves.
//   - DirSender files hold live tokens in clear text; they are written 0600,
//     and whoever can read the directory can reset those accounts until the
//     tokens expire.
//   - SMTP replies 5xx to MAIL FROM, RCPT TO or DATA are permanent (the
//     worker drops the mail); 5xx while connecting, greeting, STARTTLS or
//     authenticating are treated as temporary, because they describe the
//     relay or its configuration rather than the message, and dropping every
//     token mail while an operator fixes a password would lose them all.
package mail
