//! The dashboard's words in English and Japanese. Each message is a variant, so a message missing in
//! one language does not compile.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers of the two (English unless Japanese comes first).
    pub fn from_accept(header: &str) -> Lang {
        for part in header.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("ja") {
                return Lang::Ja;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    pub fn t(self, m: M) -> &'static str {
        let (en, ja) = m.text();
        match self {
            Lang::En => en,
            Lang::Ja => ja,
        }
    }

    /// A message with `{0}`, `{1}`… filled in.
    pub fn f(self, m: M, args: &[&str]) -> String {
        let mut out = self.t(m).to_string();
        for (i, a) in args.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), a);
        }
        out
    }
}

macro_rules! messages {
    ($($name:ident => $en:expr, $ja:expr;)*) => {
        /// Every message of the dashboard.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum M { $($name),* }

        impl M {
            /// (English, Japanese)
            pub fn text(self) -> (&'static str, &'static str) {
                match self { $(M::$name => ($en, $ja)),* }
            }

            #[cfg(test)]
            pub const ALL: &'static [M] = &[$(M::$name),*];
        }
    };
}

messages! {
    Product => "cardtoken dashboard", "cardtoken ダッシュボード";
    SkipToContent => "Skip to content", "本文へ移動";
    MainNav => "Main", "メイン";
    Home => "Home", "ホーム";
    Payments => "Payments", "支払い";
    ApiKeys => "API keys", "APIキー";
    Webhooks => "Webhooks", "Webhook";
    Events => "Events", "イベント";
    SignIn => "Sign in", "サインイン";
    SignInTitle => "Sign in to the dashboard", "ダッシュボードにサインイン";
    SignOut => "Sign out", "サインアウト";
    Email => "Email", "メールアドレス";
    Password => "Password", "パスワード";
    WrongCredentials => "The email or the password is wrong.", "メールアドレスまたはパスワードが違います。";
    Throttled => "Too many failed sign-ins. Try again in {0} seconds.", "サインインの失敗が多すぎます。{0} 秒後にもう一度お試しください。";
    SignedOut => "You have signed out.", "サインアウトしました。";
    SessionEnded => "Your session has ended. Sign in again.", "セッションが終了しました。もう一度サインインしてください。";
    Language => "Language", "言語";
    Mode => "Mode", "モード";
    TestMode => "Test mode", "テストモード";
    LiveMode => "Live mode", "本番モード";
    TestBanner => "Test mode: you are seeing test data.", "テストモード:テストデータを表示しています。";
    LiveBanner => "Live mode: real payments.", "本番モード:実際の支払いです。";
    SignedInAs => "Signed in as {0}", "{0} でサインイン中";
    Account => "Account", "アカウント";
    // Home
    LastHour => "Last hour", "過去1時間";
    LastDay => "Last day", "過去1日";
    Window => "Window", "期間";
    Summary => "Summary", "概要";
    Alerts => "Alerts", "アラート";
    NoAlerts => "No alerts.", "アラートはありません。";
    ChartSuccess => "Authorization success rate", "オーソリ成功率";
    ChartLatency => "Latency (ms): p50, p95, p99", "レイテンシ(ミリ秒):p50・p95・p99";
    ChartErrors => "Errors by status class, declines by code", "ステータス別エラーとコード別の拒否";
    ChartWebhooks => "Webhook deliveries", "Webhook 配信";
    StatRequests => "requests", "リクエスト";
    StatSuccess => "authorization success", "オーソリ成功率";
    Stat5xx => "5xx responses", "5xx レスポンス";
    StatWebhooks => "webhooks delivered / failed", "Webhook 配信成功 / 失敗";
    StatOpenAlerts => "open alerts", "未解決のアラート";
    AlertOpen => "OPEN", "発生中";
    AlertCleared => "cleared", "解消";
    Since => "since", "開始";
    Updated => "Updated {0} · {1} s buckets", "{0} 更新 · {1} 秒単位";
    Offline => "Cannot reach the server: retrying every 3 s…", "サーバーに接続できません。3 秒ごとに再試行しています…";
    SeriesSuccess => "success rate", "成功率";
    SeriesDelivered => "delivered", "配信成功";
    SeriesFailed => "failed", "失敗";
    SeriesDeclined => "declined", "拒否";
    // Payments
    PaymentsIntro => "Newest first. Filter them, or find one by its id.", "新しい順です。絞り込むか、ID で検索できます。";
    FindPayment => "Find a payment", "支払いを検索";
    PaymentId => "Payment id", "支払い ID";
    Find => "Find", "検索";
    Filters => "Filters", "絞り込み";
    Status => "Status", "ステータス";
    AnyStatus => "Any", "すべて";
    CreatedFrom => "Created from", "作成日(開始)";
    CreatedUntil => "Created until", "作成日(終了)";
    CardLast4 => "Card last 4", "カード下4桁";
    AmountMinor => "Amount (smallest unit: 1000 is ¥1,000 or $10.00)", "金額(最小単位:1000 は ¥1,000 または $10.00)";
    Filter => "Filter", "絞り込む";
    ClearFilters => "Clear filters", "条件をクリア";
    NoPayments => "No payments.", "支払いはありません。";
    NextPage => "Next page", "次のページ";
    FirstPage => "First page", "最初のページ";
    Payment => "Payment", "支払い";
    Amount => "Amount", "金額";
    Card => "Card", "カード";
    Created => "Created", "作成日時";
    Captured => "Captured", "売上確定額";
    Refunded => "Refunded", "返金額";
    Capturable => "Capturable", "売上確定可能額";
    CaptureMethod => "Capture", "売上確定";
    Automatic => "automatic", "自動";
    Manual => "manual", "手動";
    Description => "Description", "説明";
    LastError => "Last error", "直近のエラー";
    Expires => "expires", "有効期限";
    Actions => "Actions", "操作";
    CaptureAction => "Capture…", "売上確定…";
    VoidAction => "Void…", "取消…";
    RefundAction => "Refund…", "返金…";
    AmountOptionalCapture => "Amount to capture (empty: all of {0})", "売上確定する金額(空欄で全額 {0})";
    AmountOptionalRefund => "Amount to refund (empty: all of the {0} left)", "返金する金額(空欄で残り全額 {0})";
    ConfirmCaptureTitle => "Capture this payment?", "この支払いの売上を確定しますか?";
    ConfirmVoidTitle => "Void this payment?", "この支払いを取り消しますか?";
    ConfirmRefundTitle => "Refund this payment?", "この支払いを返金しますか?";
    ConfirmCapture => "Confirm capture", "売上確定する";
    ConfirmVoid => "Confirm void", "取り消す";
    ConfirmRefund => "Confirm refund", "返金する";
    Cancel => "Cancel", "キャンセル";
    ToCapture => "To capture", "売上確定額";
    ToRefund => "To refund", "返金額";
    AllOf => "all ({0})", "全額({0})";
    VoidExplain => "The authorization is released; nothing is charged.", "オーソリを解放します。請求は行われません。";
    Refunds => "Refunds", "返金";
    NoRefunds => "No refunds.", "返金はありません。";
    Disputes => "Disputes", "チャージバック";
    Timeline => "Timeline", "タイムライン";
    NoEvents => "No events.", "イベントはありません。";
    Deliveries => "Webhook deliveries", "Webhook 配信";
    NoDeliveries => "No webhook deliveries (no endpoint takes this event).", "Webhook 配信はありません(このイベントを受け取るエンドポイントがありません)。";
    Endpoint => "Endpoint", "エンドポイント";
    Attempts => "Attempts", "試行";
    NotAttempted => "not attempted yet", "未送信";
    Duration => "Duration", "所要時間";
    Response => "Response", "レスポンス";
    Time => "Time", "時刻";
    Captured_ => "The payment was captured.", "売上を確定しました。";
    Voided => "The payment was voided.", "支払いを取り消しました。";
    RefundMade => "The refund was made.", "返金しました。";
    InvalidAmount => "The amount must be a positive number in the currency (at most {0} decimals).", "金額は通貨の単位での正の数にしてください(小数点以下 {0} 桁まで)。";
    // Statuses
    StRequiresAction => "requires action", "認証待ち";
    StRequiresCapture => "requires capture", "売上確定待ち";
    StSucceeded => "succeeded", "成功";
    StFailed => "failed", "失敗";
    StCanceled => "canceled", "取消済み";
    StPending => "pending", "送信待ち";
    StDelivered => "delivered", "配信済み";
    StEnabled => "enabled", "有効";
    StDisabled => "disabled", "無効";
    StActive => "active", "有効";
    StRevoked => "revoked", "失効";
    StExpired => "expired", "期限切れ";
    StExpiresAt => "works until {0}", "{0} まで有効";
    // Keys
    KeysIntro => "Publishable keys (pk_…) go in your pages; secret keys (sk_…) stay on your server. A secret key is shown once, when it is made.", "公開可能キー(pk_…)はページに、シークレットキー(sk_…)はサーバーに置きます。シークレットキーは作成時に一度だけ表示されます。";
    CreateKeys => "Create a key pair", "キーペアを作成";
    KeyId => "Key id", "キー ID";
    Kind => "Type", "種類";
    Publishable => "publishable", "公開可能";
    Secret => "secret", "シークレット";
    Key => "Key", "キー";
    RollAction => "Roll…", "ロール…";
    RevokeAction => "Revoke…", "失効…";
    NoKeys => "No keys in this mode.", "このモードのキーはありません。";
    NewKeysTitle => "New API keys", "新しい API キー";
    ShownOnce => "Copy the secret key now: it is shown this once and never again.", "今すぐシークレットキーをコピーしてください。表示されるのはこの一度だけです。";
    AlreadyShown => "This was already done; its secret was shown once and cannot be shown again.", "この操作は完了済みです。シークレットは一度だけ表示され、再表示はできません。";
    PublishableKey => "Publishable key", "公開可能キー";
    SecretKey => "Secret key", "シークレットキー";
    BackToKeys => "Back to API keys", "API キーに戻る";
    RollTitle => "Roll this key?", "このキーをロールしますか?";
    RollExplain => "A new key replaces it. The old key keeps working for the grace period you choose, so you can deploy the new one first.", "新しいキーに置き換えます。新しいキーをデプロイできるよう、選んだ猶予期間のあいだ古いキーも使えます。";
    Grace => "The old key keeps working for", "古いキーの猶予期間";
    GraceNone => "no time: it stops now", "なし(すぐに停止)";
    GraceHour => "1 hour", "1 時間";
    GraceDay => "24 hours", "24 時間";
    Grace3Days => "3 days", "3 日";
    Grace7Days => "7 days", "7 日";
    ConfirmRoll => "Roll key", "キーをロール";
    RolledTitle => "Key rolled", "キーをロールしました";
    NewKey => "New key", "新しいキー";
    OldKeyStops => "The old key {0} stops working at {1}.", "古いキー {0} は {1} に停止します。";
    RevokeTitle => "Revoke this key?", "このキーを失効させますか?";
    RevokeExplain => "It stops working at once, everywhere. This cannot be undone.", "直ちにすべての場所で使えなくなります。元に戻せません。";
    ConfirmRevoke => "Revoke key", "キーを失効";
    KeyRevoked => "The key was revoked.", "キーを失効させました。";
    // Webhooks
    WebhooksIntro => "Endpoints receive this mode's events, signed per Standard Webhooks.", "エンドポイントはこのモードのイベントを Standard Webhooks の署名付きで受け取ります。";
    AddEndpoint => "Add an endpoint", "エンドポイントを追加";
    EndpointUrl => "Endpoint URL", "エンドポイント URL";
    EventTypes => "Event types", "イベントの種類";
    AllEvents => "All events", "すべてのイベント";
    Add => "Add endpoint", "エンドポイントを追加";
    NoEndpoints => "No endpoints.", "エンドポイントはありません。";
    Enabled => "Status", "状態";
    SendTest => "Send test event", "テストイベントを送信";
    RotateAction => "Rotate secret…", "シークレットを更新…";
    DeleteAction => "Delete…", "削除…";
    EndpointAddedTitle => "Endpoint added", "エンドポイントを追加しました";
    SigningSecret => "Signing secret", "署名シークレット";
    SecretShownOnce => "Copy the signing secret now: it is shown this once and never again.", "今すぐ署名シークレットをコピーしてください。表示されるのはこの一度だけです。";
    BackToWebhooks => "Back to webhooks", "Webhook に戻る";
    RotateTitle => "Rotate this endpoint's signing secret?", "このエンドポイントの署名シークレットを更新しますか?";
    RotateExplain => "A new secret signs from now on; the old one keeps signing beside it for 24 hours.", "今後は新しいシークレットで署名します。古いシークレットも 24 時間は併せて署名に使われます。";
    ConfirmRotate => "Rotate secret", "シークレットを更新";
    RotatedTitle => "Signing secret rotated", "署名シークレットを更新しました";
    DeleteTitle => "Delete this endpoint?", "このエンドポイントを削除しますか?";
    DeleteExplain => "It receives nothing more; its pending deliveries fail.", "今後は何も受け取りません。送信待ちの配信は失敗になります。";
    ConfirmDelete => "Delete endpoint", "エンドポイントを削除";
    EndpointDeleted => "The endpoint was deleted.", "エンドポイントを削除しました。";
    TestSent => "A test event was sent to the endpoint.", "テストイベントをエンドポイントに送信しました。";
    // Events
    EventsIntro => "Everything that happened in this mode, newest first.", "このモードで起きたこと(新しい順)。";
    Type => "Type", "種類";
    AllTypes => "All types", "すべての種類";
    Event => "Event", "イベント";
    Object => "Object", "オブジェクト";
    Body => "Body (as delivered; secrets hidden)", "本文(配信時のまま。シークレットは非表示)";
    Resend => "Resend", "再送";
    ResendAll => "Resend to every endpoint that takes it", "受信するすべてのエンドポイントに再送";
    Resent => "The event was queued to be sent again.", "イベントを再送キューに入れました。";
    Refresh => "Refresh", "再読み込み";
    // Errors
    NotFoundTitle => "Not found", "見つかりません";
    ErrorTitle => "That did not work", "操作できませんでした";
    Forbidden => "This request was refused: it did not come from this dashboard's own page. Reload the page and try again.", "このリクエストは拒否されました(このダッシュボードのページから送信されていません)。ページを再読み込みしてもう一度お試しください。";
    ModeChanged => "The mode was switched since this page was shown. Reload the page and try again.", "このページの表示後にモードが切り替わりました。ページを再読み込みしてもう一度お試しください。";
    BackHome => "Back to the dashboard", "ダッシュボードに戻る";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_and_the_same_placeholders() {
        for m in M::ALL {
            let (en, ja) = m.text();
            assert!(!en.is_empty() && !ja.is_empty(), "{m:?}");
            for i in 0..3 {
                let p = format!("{{{i}}}");
                assert_eq!(en.contains(&p), ja.contains(&p), "{m:?} {p}");
            }
        }
        assert_eq!(Lang::from_accept("ja-JP,ja;q=0.9,en;q=0.8"), Lang::Ja);
        assert_eq!(Lang::from_accept("en-US,ja;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept(""), Lang::En);
        assert_eq!(
            Lang::Ja.f(M::Throttled, &["42"]),
            "サインインの失敗が多すぎます。42 秒後にもう一度お試しください。"
        );
    }
}
