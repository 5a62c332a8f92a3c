//! A person's way through the onboarding, over plain HTTP: open the onboarding page,
//! press Connect, press Allow on the simulator's dialog, follow the redirect back to
//! Relay's callback. The demo tenant and the storm bench connect their accounts so.

/// Walks the onboarding like a person: open the page, press the button with id
/// `button` (Connect with Instagram, or Connect a Facebook Page), press Allow on Meta's
/// dialog, follow the redirect back to Relay's callback. Returns
/// the callback page's status.
pub async fn connect(
    http: &reqwest::Client,
    link: &str,
    sim_url: &str,
    button: &str,
) -> Result<u16, String> {
    let get = |url: String| async move {
        let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((status, location, body))
    };
    let (status, _, page) = get(link.to_owned()).await?;
    if status != 200 {
        return Err(format!("the onboarding page answered {status}"));
    }
    let start = attribute(&page, &format!("id=\"{button}\""), "href")
        .ok_or_else(|| format!("the onboarding page has no {button} button"))?;
    let (status, location, _) = get(start).await?;
    let dialog = match (status, location) {
        (302 | 303, Some(location)) => location,
        (status, _) => {
            return Err(format!("OAuth start answered {status}, not a redirect"));
        }
    };
    let (status, _, dialog_page) = get(dialog).await?;
    if status != 200 {
        return Err(format!("the simulator's dialog answered {status}"));
    }
    let action = attribute(&dialog_page, "<form", "action")
        .ok_or_else(|| "the dialog has no form".to_owned())?;
    let mut form = hidden_inputs(&dialog_page);
    form.push(("decision".into(), "allow".into()));
    let action = if action.starts_with("http") {
        action
    } else {
        format!("{sim_url}{action}")
    };
    let response = http
        .post(action)
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback = match (
        response.status().as_u16(),
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
    ) {
        (302 | 303, Some(location)) => location.to_owned(),
        (status, _) => return Err(format!("Allow answered {status}, not a redirect")),
    };
    let (status, _, body) = get(callback).await?;
    if status != 200 {
        let excerpt: String = body.chars().take(300).collect();
        return Err(format!("the callback answered {status}: {excerpt}"));
    }
    Ok(status)
}

fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attribute` in the first tag that contains `marker`.
fn attribute(html: &str, marker: &str, attribute: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..=at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let needle = format!("{attribute}=\"");
    let value_start = tag.find(&needle)? + needle.len();
    let value_end = value_start + tag[value_start..].find('"')?;
    Some(unescape(&tag[value_start..value_end]))
}

/// Every hidden input of a form, as a browser submits them.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.match_indices("<input type=\"hidden\"")
        .filter_map(|(at, _)| {
            let tag = &html[at..=at + html[at..].find('>')?];
            Some((
                attribute(tag, "name=", "name")?,
                attribute(tag, "name=", "value")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_as_a_browser_submits_them() {
        let html = r#"<form method="post" action="/www.instagram.com/oauth/authorize"><input type="hidden" name="client_id" value="1&amp;2"><input type="hidden" name="state" value="s"><button name="decision" value="allow">Allow</button></form>"#;
        assert_eq!(
            attribute(html, "<form", "action").as_deref(),
            Some("/www.instagram.com/oauth/authorize")
        );
        assert_eq!(
            hidden_inputs(html),
            vec![
                ("client_id".to_owned(), "1&2".to_owned()),
                ("state".to_owned(), "s".to_owned())
            ]
        );
        let page = r#"<a class="button" id="connect-instagram" href="http://x/oauth/start?link=a&amp;provider=instagram">"#;
        assert_eq!(
            attribute(page, "id=\"connect-instagram\"", "href").as_deref(),
            Some("http://x/oauth/start?link=a&provider=instagram")
        );
    }
}
