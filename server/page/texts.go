package page

import "github.com/safereset/safereset"

// Texts are the page's words in one language. {n} in Count is the number
// of characters typed.
type Texts struct {
	Lang                                     string
	TitleForm, Intro, RuleLength, RuleBreach string
	Account, NewPassword, RepeatPassword     string
	ShowPassword, Count, Submit, NotMe       string
	TitleDone, Done, DoneNext                string
	TitleLink, TitleError                    string
	// FormExpired is shown when the form's CSRF value does not belong to
	// its token (a forged or mangled post).
	FormExpired Problem
	// BadRequest is shown for a post that is not a form.
	BadRequest Problem
	// Codes translate the catalog codes the page can show; English uses
	// the seed's texts.
	Codes map[safereset.Code]Problem
}

// TextsFor returns the texts of lang, English when lang is not shipped.
func TextsFor(lang string) *Texts {
	if t, ok := texts[lang]; ok {
		return t
	}
	return texts["en"]
}

var texts = map[string]*Texts{
	"en": {
		Lang:           "en",
		TitleForm:      "Choose a new password",
		Intro:          "Your new password must:",
		RuleLength:     "be 8 to 64 characters long;",
		RuleBreach:     "not be found in a list of breached or common passwords.",
		Account:        "Account",
		NewPassword:    "New password",
		RepeatPassword: "Repeat the new password",
		ShowPassword:   "Show passwords",
		Count:          "{n} characters",
		Submit:         "Set new password",
		NotMe:          "Didn't ask for a new password? Close this page: your password stays as it is.",
		TitleDone:      "Password changed",
		Done:           "Your new password is set.",
		DoneNext:       "You can close this page and sign in with it. A confirmation is on its way to your mailbox.",
		TitleLink:      "This link cannot be used",
		TitleError:     "Something went wrong",
		FormExpired:    Problem{"This form is no longer valid.", "Open the link from your email again."},
		BadRequest:     Problem{"The form could not be read.", "Open the link from your email again and submit the form."},
	},
	"nl": {
		Lang:           "nl",
		TitleForm:      "Kies een nieuw wachtwoord",
		Intro:          "Je nieuwe wachtwoord:",
		RuleLength:     "is 8 tot 64 tekens lang;",
		RuleBreach:     "komt niet voor in een lijst van gelekte of veelgebruikte wachtwoorden.",
		Account:        "Account",
		NewPassword:    "Nieuw wachtwoord",
		RepeatPassword: "Herhaal het nieuwe wachtwoord",
		ShowPassword:   "Wachtwoorden tonen",
		Count:          "{n} tekens",
		Submit:         "Nieuw wachtwoord instellen",
		NotMe:          "Geen nieuw wachtwoord aangevraagd? Sluit deze pagina: je wachtwoord blijft ongewijzigd.",
		TitleDone:      "Wachtwoord gewijzigd",
		Done:           "Je nieuwe wachtwoord is ingesteld.",
		DoneNext:       "Je kunt deze pagina sluiten en ermee inloggen. Er is een bevestiging naar je mailbox onderweg.",
		TitleLink:      "Deze link werkt niet",
		TitleError:     "Er ging iets mis",
		FormExpired:    Problem{"Dit formulier is niet meer geldig.", "Open de link uit je e-mail opnieuw."},
		BadRequest:     Problem{"Het formulier kon niet worden gelezen.", "Open de link uit je e-mail opnieuw en verstuur het formulier."},
		Codes: map[safereset.Code]Problem{
			safereset.ER001: {"Het e-mailadres is ongeldig.", "Geef een geldig e-mailadres op."},
			safereset.ER003: {"Er is geen e-mailadres opgegeven.", "Geef een geldig e-mailadres op."},
			safereset.ER004: {"Er is geen wachtwoord opgegeven.", "Vul een nieuw wachtwoord in."},
			safereset.ER122: {"Het wachtwoord is te kort.", "Gebruik minstens 8 tekens."},
			safereset.ER123: {"Het wachtwoord is te lang.", "Gebruik hoogstens 64 tekens."},
			safereset.ER349: {"Dit wachtwoord is niet sterk genoeg of komt voor in een datalek.", "Kies een ander wachtwoord. Een wachtwoordmanager kan sterke wachtwoorden voor je maken en bewaren."},
			safereset.ER350: {"De wachtwoorden komen niet overeen.", "Typ hetzelfde wachtwoord twee keer."},
			safereset.ER351: {"De resetcode ontbreekt.", "Open de link uit je e-mail opnieuw."},
			safereset.ER352: {"Deze resetlink is ongeldig of al gebruikt.", "Vraag een nieuwe resetlink aan."},
			safereset.ER353: {"Deze resetlink is verlopen.", "Vraag een nieuwe resetlink aan."},
			safereset.ER355: {"Je wachtwoord is gewijzigd, maar de bevestigingsmail kon niet worden verstuurd.", "Wil je toch een bevestiging ontvangen, stel je wachtwoord dan opnieuw in. Neem bij vragen contact op met de support."},
			safereset.ER413: {"Het formulier is te groot.", "Verstuur het formulier zonder extra gegevens."},
			safereset.ER429: {"Te veel pogingen.", "Wacht even en probeer het dan opnieuw."},
			safereset.ER999: {"Er is een fout opgetreden.", "Neem contact op met de support."},
		},
	},
	"de": {
		Lang:           "de",
		TitleForm:      "Neues Passwort wählen",
		Intro:          "Ihr neues Passwort:",
		RuleLength:     "ist 8 bis 64 Zeichen lang;",
		RuleBreach:     "steht in keiner Liste geleakter oder häufig verwendeter Passwörter.",
		Account:        "Konto",
		NewPassword:    "Neues Passwort",
		RepeatPassword: "Neues Passwort wiederholen",
		ShowPassword:   "Passwörter anzeigen",
		Count:          "{n} Zeichen",
		Submit:         "Neues Passwort speichern",
		NotMe:          "Sie haben kein neues Passwort angefordert? Schließen Sie diese Seite: Ihr Passwort bleibt unverändert.",
		TitleDone:      "Passwort geändert",
		Done:           "Ihr neues Passwort ist gespeichert.",
		DoneNext:       "Sie können diese Seite schließen und sich damit anmelden. Eine Bestätigung ist unterwegs in Ihr Postfach.",
		TitleLink:      "Dieser Link kann nicht verwendet werden",
		TitleError:     "Etwas ist schiefgelaufen",
		FormExpired:    Problem{"Dieses Formular ist nicht mehr gültig.", "Öffnen Sie den Link aus Ihrer E-Mail erneut."},
		BadRequest:     Problem{"Das Formular konnte nicht gelesen werden.", "Öffnen Sie den Link aus Ihrer E-Mail erneut und senden Sie das Formular ab."},
		Codes: map[safereset.Code]Problem{
			safereset.ER001: {"Die E-Mail-Adresse ist ungültig.", "Geben Sie eine gültige E-Mail-Adresse an."},
			safereset.ER003: {"Es wurde keine E-Mail-Adresse angegeben.", "Geben Sie eine gültige E-Mail-Adresse an."},
			safereset.ER004: {"Es wurde kein Passwort angegeben.", "Geben Sie ein neues Passwort ein."},
			safereset.ER122: {"Das Passwort ist zu kurz.", "Verwenden Sie mindestens 8 Zeichen."},
			safereset.ER123: {"Das Passwort ist zu lang.", "Verwenden Sie höchstens 64 Zeichen."},
			safereset.ER349: {"Dieses Passwort ist nicht stark genug oder wurde in einem Datenleck gefunden.", "Wählen Sie ein anderes Passwort. Ein Passwortmanager kann starke Passwörter für Sie erzeugen und speichern."},
			safereset.ER350: {"Die Passwörter stimmen nicht überein.", "Geben Sie zweimal dasselbe Passwort ein."},
			safereset.ER351: {"Der Code zum Zurücksetzen fehlt.", "Öffnen Sie den Link aus Ihrer E-Mail erneut."},
			safereset.ER352: {"Dieser Link ist ungültig oder wurde bereits verwendet.", "Fordern Sie einen neuen Link an."},
			safereset.ER353: {"Dieser Link ist abgelaufen.", "Fordern Sie einen neuen Link an."},
			safereset.ER355: {"Ihr Passwort wurde geändert, aber die Bestätigungs-E-Mail konnte nicht gesendet werden.", "Wenn Sie dennoch eine Bestätigung erhalten möchten, setzen Sie Ihr Passwort erneut zurück. Bei Fragen wenden Sie sich an den Support."},
			safereset.ER413: {"Das Formular ist zu groß.", "Senden Sie das Formular ohne zusätzliche Daten."},
			safereset.ER429: {"Zu viele Versuche.", "Warten Sie einen Moment und versuchen Sie es dann erneut."},
			safereset.ER999: {"Ein Fehler ist aufgetreten.", "Wenden Sie sich an den Support."},
		},
	},
	"fr": {
		Lang:           "fr",
		TitleForm:      "Choisissez un nouveau mot de passe",
		Intro:          "Votre nouveau mot de passe doit :",
		RuleLength:     "compter de 8 à 64 caractères ;",
		RuleBreach:     "ne pas figurer dans une liste de mots de passe divulgués ou courants.",
		Account:        "Compte",
		NewPassword:    "Nouveau mot de passe",
		RepeatPassword: "Confirmez le nouveau mot de passe",
		ShowPassword:   "Afficher les mots de passe",
		Count:          "{n} caractères",
		Submit:         "Enregistrer le mot de passe",
		NotMe:          "Vous n’avez rien demandé ? Fermez cette page : votre mot de passe reste inchangé.",
		TitleDone:      "Mot de passe modifié",
		Done:           "Votre nouveau mot de passe est enregistré.",
		DoneNext:       "Vous pouvez fermer cette page et vous connecter avec. Une confirmation vous a été envoyée par e-mail.",
		TitleLink:      "Ce lien n’est pas utilisable",
		TitleError:     "Une erreur s’est produite",
		FormExpired:    Problem{"Ce formulaire n’est plus valide.", "Ouvrez à nouveau le lien reçu par e-mail."},
		BadRequest:     Problem{"Le formulaire n’a pas pu être lu.", "Ouvrez à nouveau le lien reçu par e-mail et envoyez le formulaire."},
		Codes: map[safereset.Code]Problem{
			safereset.ER001: {"L’adresse e-mail n’est pas valide.", "Indiquez une adresse e-mail valide."},
			safereset.ER003: {"Aucune adresse e-mail n’a été indiquée.", "Indiquez une adresse e-mail valide."},
			safereset.ER004: {"Aucun mot de passe n’a été saisi.", "Saisissez un nouveau mot de passe."},
			safereset.ER122: {"Le mot de passe est trop court.", "Utilisez au moins 8 caractères."},
			safereset.ER123: {"Le mot de passe est trop long.", "Utilisez au plus 64 caractères."},
			safereset.ER349: {"Ce mot de passe n’est pas assez robuste ou a été trouvé dans une fuite de données.", "Choisissez-en un autre. Un gestionnaire de mots de passe peut en créer et en conserver de robustes pour vous."},
			safereset.ER350: {"Les mots de passe ne correspondent pas.", "Saisissez deux fois le même mot de passe."},
			safereset.ER351: {"Le code de réinitialisation est absent.", "Ouvrez à nouveau le lien reçu par e-mail."},
			safereset.ER352: {"Ce lien n’est pas valide ou a déjà été utilisé.", "Demandez un nouveau lien de réinitialisation."},
			safereset.ER353: {"Ce lien a expiré.", "Demandez un nouveau lien de réinitialisation."},
			safereset.ER355: {"Votre mot de passe a été modifié, mais l’e-mail de confirmation n’a pas pu être envoyé.", "Si vous souhaitez tout de même une confirmation, réinitialisez à nouveau votre mot de passe. Pour toute question, contactez le support."},
			safereset.ER413: {"Le formulaire est trop volumineux.", "Envoyez le formulaire sans données supplémentaires."},
			safereset.ER429: {"Trop de tentatives.", "Patientez un instant, puis réessayez."},
			safereset.ER999: {"Une erreur s’est produite.", "Contactez le support."},
		},
	},
	"es": {
		Lang:           "es",
		TitleForm:      "Elige una contraseña nueva",
		Intro:          "Tu nueva contraseña debe:",
		RuleLength:     "tener entre 8 y 64 caracteres;",
		RuleBreach:     "no aparecer en una lista de contraseñas filtradas o comunes.",
		Account:        "Cuenta",
		NewPassword:    "Contraseña nueva",
		RepeatPassword: "Repite la contraseña nueva",
		ShowPassword:   "Mostrar contraseñas",
		Count:          "{n} caracteres",
		Submit:         "Guardar contraseña",
		NotMe:          "¿No has pedido una contraseña nueva? Cierra esta página: tu contraseña no cambia.",
		TitleDone:      "Contraseña cambiada",
		Done:           "Tu nueva contraseña ya está guardada.",
		DoneNext:       "Puedes cerrar esta página e iniciar sesión con ella. Te hemos enviado una confirmación por correo.",
		TitleLink:      "Este enlace no se puede usar",
		TitleError:     "Algo ha salido mal",
		FormExpired:    Problem{"Este formulario ya no es válido.", "Vuelve a abrir el enlace de tu correo."},
		BadRequest:     Problem{"No se ha podido leer el formulario.", "Vuelve a abrir el enlace de tu correo y envía el formulario."},
		Codes: map[safereset.Code]Problem{
			safereset.ER001: {"La dirección de correo no es válida.", "Indica una dirección de correo válida."},
			safereset.ER003: {"No se ha indicado ninguna dirección de correo.", "Indica una dirección de correo válida."},
			safereset.ER004: {"No se ha indicado ninguna contraseña.", "Escribe una contraseña nueva."},
			safereset.ER122: {"La contraseña es demasiado corta.", "Usa al menos 8 caracteres."},
			safereset.ER123: {"La contraseña es demasiado larga.", "Usa como máximo 64 caracteres."},
			safereset.ER349: {"Esta contraseña no es lo bastante segura o ha aparecido en una filtración de datos.", "Elige otra. Un gestor de contraseñas puede crear y guardar contraseñas seguras por ti."},
			safereset.ER350: {"Las contraseñas no coinciden.", "Escribe la misma contraseña dos veces."},
			safereset.ER351: {"Falta el código de restablecimiento.", "Vuelve a abrir el enlace de tu correo."},
			safereset.ER352: {"Este enlace no es válido o ya se ha usado.", "Solicita un enlace nuevo."},
			safereset.ER353: {"Este enlace ha caducado.", "Solicita un enlace nuevo."},
			safereset.ER355: {"Tu contraseña se ha cambiado, pero no se ha podido enviar el correo de confirmación.", "Si aun así quieres recibir una confirmación, vuelve a restablecer la contraseña. Si tienes dudas, ponte en contacto con el soporte."},
			safereset.ER413: {"El formulario es demasiado grande.", "Envía el formulario sin datos adicionales."},
			safereset.ER429: {"Demasiados intentos.", "Espera un momento y vuelve a intentarlo."},
			safereset.ER999: {"Se ha producido un error.", "Ponte en contacto con el soporte."},
		},
	},
}
